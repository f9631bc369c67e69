import type { Command } from 'commander';
import { emit } from '../output';
import { actingAs } from '../people';
import { withClient, type CliContext } from '../session';
import { lazy } from '../lazy';

interface DrillOptions {
  target: string;
  scenario: string;
  badVersion?: string;
  entry?: string;
  as?: string;
  taskQueue?: string;
  json?: boolean;
}

/** The scenarios, read only when help is printed (the drill's modules are heavy for a --help). */
function scenarioHelp(): string {
  const { DRILL_SCENARIOS } = lazy.drillScenarios();
  return `\nScenarios: ${DRILL_SCENARIOS.join(' | ')}`;
}

/**
 * `rollback drill --target T --scenario S`: rehearses an emergency rollback on a sandbox target.
 * Exit 0 when the sandbox recovered, 1 when it did not, 2 when the drill was refused (nothing touched).
 */
export function registerDrill(program: Command, ctx: CliContext): void {
  program
    .command('drill')
    .description('break a sandbox target on purpose, roll it back, check it recovered and time it')
    .requiredOption('-t, --target <name>', 'a target marked "sandbox: true" in the config')
    .requiredOption('-s, --scenario <name>', 'what to break (the scenarios are listed below)')
    .option(
      '--bad-version <ref>',
      'bad-release: the release to deploy (default: the newest tag but the stable one)',
    )
    .option('--entry <file>', "corrupted-entry: the file to truncate (default: the pm2 service's script)")
    .option('--as <name>', 'who runs the drill (default: $ROLLBACK_USER or the OS user)')
    .option(
      '--task-queue <name>',
      'worker task queue (default: $ROLLBACK_TASK_QUEUE or rollback-orchestrator)',
    )
    .option('--json', 'machine-readable output')
    .addHelpText('after', scenarioHelp)
    .action(async (opts: DrillOptions) => {
      const { parseScenario } = lazy.drillScenarios();
      const { resolveDrillTarget } = lazy.drillTarget();
      const { formatDrill, runDrill } = lazy.drillRun();
      const scenario = parseScenario(opts.scenario);
      const requestedBy = actingAs(opts.as);
      // Every refusal happens here, before a connection or a change.
      const drill = resolveDrillTarget(ctx.globals().config, opts.target);
      await withClient(
        ctx,
        async (client) => {
          const result = await runDrill({
            client,
            drill,
            scenario,
            requestedBy,
            badVersion: opts.badVersion,
            entry: opts.entry,
            log: opts.json
              ? undefined
              : (line) => ctx.io.stderr(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
          });
          emit(ctx.io, opts.json, formatDrill(result), result);
          if (!result.recovered) ctx.io.setExitCode(1);
        },
        opts.taskQueue,
      );
    });
}
