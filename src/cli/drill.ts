import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { ConnectionFlags } from '../client';
import { formatDrill, runDrill } from '../drill/run';
import { DRILL_SCENARIOS, parseScenario } from '../drill/scenarios';
import { resolveDrillTarget } from '../drill/target';
import { processIo, type CliIo, type ConnectFn } from './report';

/**
 * `rollback drill --target T --scenario S`: rehearses an emergency rollback on a sandbox target.
 * Exit 0 when the sandbox recovered, 1 when it did not, 2 when the drill was refused (nothing touched).
 */
export function registerDrillCommand(program: Command, connect: ConnectFn, io: CliIo = processIo): Command {
  return program
    .command('drill')
    .description('break a sandbox target on purpose, roll it back, check it recovered and time it')
    .requiredOption('-t, --target <name>', 'a target marked "sandbox: true" in the config')
    .requiredOption('-s, --scenario <name>', `what to break: ${DRILL_SCENARIOS.join(' | ')}`)
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
    .action(
      async (opts: {
        target: string;
        scenario: string;
        badVersion?: string;
        entry?: string;
        as?: string;
        taskQueue?: string;
        json?: boolean;
      }) => {
        const global = program.opts<ConnectionFlags & { config?: string }>();
        const scenario = parseScenario(opts.scenario);
        // Every refusal happens here, before a connection or a change.
        const drill = resolveDrillTarget(global.config, opts.target);
        const client = await connect({
          address: global.address,
          namespace: global.namespace,
          taskQueue: opts.taskQueue,
        });
        try {
          const result = await runDrill({
            client,
            drill,
            scenario,
            requestedBy: opts.as ?? process.env.ROLLBACK_USER ?? userInfo().username,
            badVersion: opts.badVersion,
            entry: opts.entry,
            log: opts.json
              ? undefined
              : (line) => io.stderr(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
          });
          io.stdout(opts.json ? JSON.stringify(result, null, 2) + '\n' : formatDrill(result) + '\n');
          if (!result.recovered) io.setExitCode(1);
        } finally {
          await client.close();
        }
      },
    );
}
