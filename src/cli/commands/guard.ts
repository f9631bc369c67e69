import type { Command } from 'commander';
import type { GuardStatus } from '../../model/guard';
import { hostQueue, targetHost } from '../../model/hosts';
import { oneLine } from '../../model/text';
import { ConfigError } from '../../targets/errors';
import { emit } from '../output';
import { actingAs } from '../people';
import { usage } from '../errors';
import { missingHostWorkers, requireWorker, withClient, type CliContext } from '../session';
import { lazy } from '../lazy';

interface GuardOpts {
  target: string;
  as?: string;
  reason?: string;
  taskQueue?: string;
  json?: boolean;
}

function statusText(s: GuardStatus): string {
  const lines = [
    `guard of ${s.target}: ${s.state.paused ? `PAUSED by ${s.state.pausedBy ?? 'someone'}` : s.inMaintenance ? 'in a maintenance window (records only)' : 'watching'}` +
      `, ${s.state.samplesTaken} samples since ${s.state.startedAt}` +
      (s.coolingDownUntil ? `; cooling down until ${s.coolingDownUntil}` : ''),
  ];
  for (const r of s.rules) {
    const last = r.last
      ? `${r.last.value ?? 'no value'}${r.last.note ? ` (${oneLine(r.last.note)})` : ''}`
      : 'not sampled yet';
    lines.push(
      `  ${r.name.padEnd(20)} ${r.condition.padEnd(10)} held ${r.heldSeconds}/${r.forSeconds} s   last: ${last}`,
    );
  }
  const actions = s.state.actions.slice(-5);
  if (actions.length) lines.push('  recent actions:');
  for (const a of actions) lines.push(`    ${a.at}  ${a.rule}  ${a.action}: ${oneLine(a.detail)}`);
  return lines.join('\n');
}

/** `rollback guard start|status|pause|resume|stop --target T`: a target's automatic triggers. */
export function registerGuard(program: Command, ctx: CliContext): void {
  const guard = program
    .command('guard')
    .description("watch a target and roll it back when its guard's rules hold (automatic triggers)");
  const common = (c: Command) =>
    c
      .requiredOption('-t, --target <name>', 'target from the config')
      .option(
        '--task-queue <name>',
        'worker task queue (default: $ROLLBACK_TASK_QUEUE or rollback-orchestrator)',
      )
      .option('--json', 'machine-readable output');

  common(
    guard.command('start').description("start the target's guard (its `guard:` section in the config)"),
  ).action(async (opts: GuardOpts) => {
    const { loadConfig, getTarget } = lazy.config();
    const { resolveGuard, ecsGuardDefaults, pm2ServiceOf } = lazy.guardConfig();
    const { connectionSettings, webUiBase } = lazy.connection();
    const loaded = loadConfig(ctx.globals().config);
    const target = getTarget(loaded, opts.target);
    if (!target.guard) {
      throw new ConfigError(
        `targets.${opts.target} has no guard: section; add one, e.g. guard: { preset: mcp-runbook, sources: { healthUrls: [...] } } ` +
          '(see rollback config schema)',
      );
    }
    const notify = [...(loaded.config.notify?.channels ?? []), ...(target.notify?.channels ?? [])];
    const spec = resolveGuard(opts.target, target.guard, loaded.file, {
      webUiBase: webUiBase(connectionSettings(ctx.globals()).address),
      notify,
      ecs: ecsGuardDefaults(target),
      host: targetHost(target),
      pm2: pm2ServiceOf(target),
    });
    await withClient(
      ctx,
      async (client) => {
        await requireWorker(client, opts.target, 'guard');
        // Memory and log signals of a host with its own worker are read by that worker.
        const [missing] = await missingHostWorkers(
          client,
          spec.rules.flatMap((r) =>
            'on' in r.signal && r.signal.on && 'worker' in r.signal.on ? [r.signal.on.worker] : [],
          ),
        );
        if (missing !== undefined) {
          throw usage(
            `no worker for host ${missing} polls task queue "${hostQueue(missing)}": the guard's memory and log samples of ${opts.target} are read there, so the guard was not started; ` +
              `start one on that host: rollback worker --host ${missing}`,
          );
        }
        const { GuardClient } = lazy.guardClient();
        const started = await new GuardClient(client).start(spec);
        const human =
          `Guard of ${opts.target} started: ${spec.rules.length} rule(s), a sample every ${spec.intervalSeconds} s\n` +
          spec.rules
            .map(
              (r) =>
                `  ${r.name}: ${r.above !== undefined ? `> ${r.above}` : `< ${r.below}`} for ${r.forSeconds} s → ${r.action === 'rollback' ? `${r.kind} rollback` : 'propose'}`,
            )
            .join('\n') +
          `\n  workflow: ${started.workflowId}\n  web ui:   ${started.webUrl}`;
        emit(ctx.io, opts.json, human, { ...started, spec });
      },
      opts.taskQueue,
    );
  });

  common(guard.command('status').description('where each rule stands, and what the guard did lately')).action(
    async (opts: GuardOpts) =>
      withClient(
        ctx,
        async (client) => {
          const { GuardClient } = lazy.guardClient();
          const status = await new GuardClient(client).status(opts.target);
          emit(ctx.io, opts.json, statusText(status), status);
        },
        opts.taskQueue,
      ),
  );

  const change = (verb: 'pause' | 'resume' | 'stop', description: string) => {
    const command = common(guard.command(verb).description(description)).option(
      '--as <name>',
      'who (default: $ROLLBACK_USER or the OS user)',
    );
    if (verb === 'pause') command.option('--reason <text>', 'why (recorded in the guard)');
    command.action(async (opts: GuardOpts) => {
      const by = actingAs(opts.as);
      await withClient(
        ctx,
        async (client) => {
          const { GuardClient } = lazy.guardClient();
          const guards = new GuardClient(client);
          const status =
            verb === 'pause'
              ? await guards.pause(opts.target, by, opts.reason)
              : verb === 'resume'
                ? await guards.resume(opts.target, by)
                : await guards.stop(opts.target, by);
          const human = {
            pause: 'paused: it samples and records, and acts on nothing',
            resume: 'resumed',
            stop: 'stopped',
          }[verb];
          emit(ctx.io, opts.json, `guard of ${opts.target} ${human}`, status);
        },
        opts.taskQueue,
      );
    });
  };
  change('pause', 'keep sampling and recording, but start nothing (until resume)');
  change('resume', 'act on held rules again');
  change('stop', 'end the guard');
}
