import { formatFinding } from '../../model/analysis';
import type { Command } from 'commander';
import type { RollbackClient } from '../../client';
import { hostQueue, hostWorkersOf } from '../../model/hosts';
import { ROLLBACK_KINDS } from '../../model/kinds';
import type { Plan } from '../../model/plan';
import { oneLine } from '../../model/text';
import type { PreflightResult } from '../../workflows/messages';
import { usage } from '../errors';
import { emit, type CliIo } from '../output';
import { actingAs, checkPeopleText } from '../people';
import { missingHostWorkers, requireWorker, withClient, type CliContext } from '../session';
import { lazy } from '../lazy';
import { noteUnrecorded, recordHostChecks } from '../state/host-checks';
import { ConfigError } from '../../targets/errors';
import type { BaseTarget } from '../../targets/kinds';

interface StartOptions {
  target?: string;
  group?: string;
  to?: string;
  commit?: string[];
  reason: string;
  impact?: string;
  as?: string;
  wait?: boolean;
  force?: boolean;
  accept?: string[];
  taskQueue?: string;
  json?: boolean;
}

/** A rollback with steps for a host's own worker: refused while no worker polls that host's queue. */
async function requireHostWorkers(client: RollbackClient, target: string, plan: Plan): Promise<void> {
  const [name] = await missingHostWorkers(client, hostWorkersOf(plan));
  if (name === undefined) return;
  throw usage(
    `no worker for host ${name} polls task queue "${hostQueue(name)}": the steps of ${target} on ${name} would wait, so the rollback was not started; ` +
      `start one on that host: rollback worker --host ${name}`,
  );
}

function announce(
  io: CliIo,
  kind: string,
  target: string,
  started: { workflowId: string; runId: string; webUrl: string; checks: PreflightResult },
) {
  const { fromVersion, toVersion, checks } = started.checks;
  io.stderr(
    `Started ${kind} rollback of ${target}${fromVersion ? ` from ${fromVersion}` : ''} to ${toVersion}\n`,
  );
  for (const line of checks) io.stderr(`  ✔ ${oneLine(line)}\n`);
  // The findings worth a look before it goes on (info ones are in the plan and the reports).
  for (const f of started.checks.findings ?? [])
    if (f.severity !== 'info') io.stderr(`    ${oneLine(formatFinding(f))}\n`);
  io.stderr(`  workflow: ${started.workflowId} (run ${started.runId})\n  web ui:   ${started.webUrl}\n`);
}

/** `rollback start KIND --target T --reason ...`: checks everything it can, then starts the rollback. */
export function registerStart(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description('start a rollback; prints its id and Web UI link')
    .argument('<kind>', `rollback kind: ${ROLLBACK_KINDS.join(' | ')}`)
    .option('-t, --target <name>', 'target from the config (give this or --group)')
    .option('-g, --group <name>', "a group from the config: its targets' rollbacks in waves, one approval")
    .option('--to <version>', "version to return to (default: the target's stableVersion)")
    .option('--commit <sha...>', 'complete rollbacks: the offending commit(s), or a range A..B')
    .requiredOption('-r, --reason <text>', 'why (goes into the incident record)')
    .option('--impact <text>', 'who or what is affected')
    .option('--force', 'redeploy even when the service already runs the version asked for')
    .option(
      '--accept <finding...>',
      'go on despite these blocking findings of the analysis (e.g. migration:NAME)',
    )
    .option('--as <name>', 'who is asking (default: $ROLLBACK_USER or the OS user)')
    .option('-w, --wait', 'follow progress live and exit with the outcome')
    .option(
      '--task-queue <name>',
      'worker task queue (default: $ROLLBACK_TASK_QUEUE or rollback-orchestrator)',
    )
    .option('--json', 'machine-readable output')
    .action(async (kind: string, opts: StartOptions) => {
      if (!opts.reason.trim()) throw usage('--reason must not be empty: say why you are rolling back');
      checkPeopleText(opts);
      const requestedBy = actingAs(opts.as);
      if (!opts.target === !opts.group)
        throw usage('give --target NAME (one target) or --group NAME (a group of targets), not both');
      if (opts.group) return startGroup(ctx, kind, { ...opts, group: opts.group }, requestedBy);
      const { preparePlan } = lazy.planning();
      const { request, plan, target, configFile } = preparePlan(ctx.globals(), kind, {
        ...opts,
        target: opts.target!,
        requestedBy,
      });
      await checkRemoteHost(ctx.io, configFile, opts.target!, target);
      await withClient(
        ctx,
        async (client) => {
          await requireWorker(client, opts.target!);
          await requireHostWorkers(client, opts.target!, plan);
          // Returns once the read-only checks passed; a request they refuse ends here with exit 2.
          const started = await client.startChecked(request, plan);
          const head = { ...started, rollbackId: request.rollbackId };
          if (!opts.json) announce(ctx.io, kind, opts.target!, started);
          await answer(ctx, client, started, head, opts);
        },
        opts.taskQueue,
      );
    });
}

/** The id at once, or (`--wait`) the progress live and the outcome. */
async function answer(
  ctx: CliContext,
  client: RollbackClient,
  started: { workflowId: string; runId: string },
  head: Record<string, unknown>,
  opts: { wait?: boolean; json?: boolean },
): Promise<void> {
  if (!opts.wait) return emit(ctx.io, opts.json, started.workflowId, head);
  const { followRollback, printOutcome } = lazy.follow();
  const result = await followRollback(client, started.workflowId, started.runId, {
    json: !!opts.json,
    io: ctx.io,
  });
  printOutcome(ctx.io, result, !!opts.json, head);
}

/** `start --group`: every target planned and checked as for --target, then the group workflow. */
async function startGroup(
  ctx: CliContext,
  kind: string,
  opts: StartOptions & { group: string },
  requestedBy: string,
): Promise<void> {
  const { prepareGroup } = lazy.planning();
  const { input, plans } = prepareGroup(ctx.globals(), kind, { ...opts, requestedBy });
  await withClient(
    ctx,
    async (client) => {
      await requireWorker(client, `group ${opts.group}`);
      for (const m of input.members) await requireHostWorkers(client, m.target, plans[m.target]!);
      const started = await client.startGroup(input);
      const head = { ...started, rollbackId: input.request.rollbackId, waves: input.waves };
      if (!opts.json) {
        ctx.io.stderr(
          `Started ${kind} rollback of group ${opts.group}: ${input.members.length} targets in ${input.waves.length} waves\n` +
            input.waves
              .map((w, i) => `  wave ${i + 1}${i === 0 ? ' (canary)' : ''}: ${w.join(', ')}\n`)
              .join('') +
            (input.plan.approval.required
              ? `  waits for ${input.plan.approval.quorum} approval(s) from: ${input.plan.approval.approvers.join(', ')}\n`
              : '') +
            `  workflow: ${started.workflowId} (run ${started.runId})\n  web ui:   ${started.webUrl}\n`,
        );
      }
      await answer(ctx, client, started, head, opts);
    },
    opts.taskQueue,
  );
}

/**
 * Asks a target's SSH host, before anything starts, whether the rollback can run there: a host that
 * does not answer, shows another key, refuses the login or lacks the deploy path ends here (exit 2).
 */
async function checkRemoteHost(io: CliIo, configFile: string, name: string, target: BaseTarget) {
  const check = await lazy.hostCheck().checkTargetHost(name, target);
  if (check) noteUnrecorded(io, recordHostChecks(configFile, [check]));
  if (check?.problems.length) throw new ConfigError(`${check.problems.join('\n')}\nnothing was started`);
}
