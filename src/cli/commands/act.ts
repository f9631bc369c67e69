import type { Command } from 'commander';
import type { RollbackClient } from '../../client';
import { DECISIONS, type Decision } from '../../model/kinds';
import { oneLine, TEXT_LIMITS } from '../../model/text';
import { usage } from '../errors';
import { parseRollbackId } from '../ids';
import { emit } from '../output';
import { actingAs, checkPeopleText, checkText } from '../people';
import { lazy } from '../lazy';
import { findRollback, requireRunning, startWorkerHint, withClient, type CliContext } from '../session';

type Action = 'approve' | 'reject' | 'decide';
const WHAT: Record<Action, string> = { approve: 'an approval', reject: 'a rejection', decide: 'a decision' };

interface ActOptions {
  as?: string;
  comment?: string;
  signal?: boolean;
  json?: boolean;
  signWith?: string;
}

/** An Update is checked by the workflow, on a worker: without one it would wait. A Signal is queued. */
async function requireWorkerForUpdate(
  client: RollbackClient,
  taskQueue: string,
  action: Action,
): Promise<void> {
  const { polling } = await client.workerPresence(taskQueue);
  if (polling) return;
  throw usage(
    `no worker polls task queue "${taskQueue}", and a worker must check ${WHAT[action]} before it counts; ` +
      `${startWorkerHint(taskQueue)}, or send it with --signal to have it applied when a worker runs`,
  );
}

function describeResult(
  action: Action,
  by: string,
  workflowId: string,
  decision: Decision | undefined,
  res: Awaited<ReturnType<RollbackClient['act']>>,
): string {
  if (!res)
    return `${by}: ${action} sent to ${workflowId} as a signal; check "rollback status ${workflowId}" for the audit trail`;
  const verb = action === 'decide' ? `decided ${decision}` : action === 'approve' ? 'approved' : 'rejected';
  const count = action === 'approve' ? ` (${res.approvals}/${res.needed} approvals)` : '';
  return `${by} ${verb} ${workflowId}: now ${res.status}${count}`;
}

async function act(
  ctx: CliContext,
  id: string,
  action: Action,
  opts: ActOptions,
  decision?: Decision,
): Promise<void> {
  checkPeopleText(opts);
  const ref = parseRollbackId(id);
  const by = actingAs(opts.as);
  await withClient(ctx, async (client) => {
    const desc = await findRollback(client, ref);
    requireRunning(desc, action);
    if (!opts.signal) await requireWorkerForUpdate(client, desc.taskQueue, action);
    // A decision is about the failure the operator saw: name that step, so a decision that
    // arrives after the rollback moved on to another failure is refused instead of misapplied.
    const stepId =
      action === 'decide'
        ? (await client.progress(desc.workflowId, undefined, 5000).catch(() => undefined))?.awaitingDecision
            ?.stepId
        : undefined;
    const signWith = opts.signWith ?? process.env.ROLLBACK_SIGN_WITH;
    const signed = signWith
      ? lazy.signing().signAction(signWith, {
          workflowId: desc.workflowId,
          runId: desc.runId,
          action,
          by,
          stepId,
          decision,
          comment: opts.comment,
        })
      : {};
    const res = await client.act(
      desc.workflowId,
      action,
      { by, comment: opts.comment, decision, stepId, ...signed },
      !!opts.signal,
    );
    emit(ctx.io, opts.json, describeResult(action, by, desc.workflowId, decision, res), {
      workflowId: desc.workflowId,
      by,
      action,
      decision,
      result: res,
      viaSignal: !!opts.signal,
      signed: !!signWith,
    });
  });
}

function actor(cmd: Command): Command {
  return cmd
    .option('--as <name>', 'who is acting (default: $ROLLBACK_USER or the OS user)')
    .option('--signal', 'send as a Signal (accepted blindly; a refusal shows only in the audit trail)')
    .option(
      '--sign-with <key>',
      'sign with this SSH key (ssh-keygen -Y sign; a .pub file signs through ssh-agent); default $ROLLBACK_SIGN_WITH',
    )
    .option('--json', 'machine-readable output');
}

/** `rollback approve|reject|decide ID`: the human gates, as Updates the workflow checks (or as Signals). */
export function registerActions(program: Command, ctx: CliContext): void {
  actor(program.command('approve'))
    .description('approve a rollback that awaits approval')
    .argument('<id>', 'workflow id (rollback-TARGET)')
    .option('--comment <text>', 'a comment for the audit trail')
    .action((id: string, opts: ActOptions) => act(ctx, id, 'approve', opts));

  actor(program.command('reject'))
    .description('reject a rollback that awaits approval')
    .argument('<id>', 'workflow id (rollback-TARGET)')
    .requiredOption('--reason <text>', 'why (kept in the audit trail)')
    .action((id: string, opts: ActOptions & { reason: string }) => {
      checkText('--reason', opts.reason, TEXT_LIMITS.reason);
      if (!opts.reason.trim()) throw usage('--reason must not be empty: say why you reject the rollback');
      return act(ctx, id, 'reject', { ...opts, comment: opts.reason });
    });

  actor(program.command('decide'))
    .description('decide on a step that failed for good: retry | skip | compensate | abort')
    .argument('<id>', 'workflow id (rollback-TARGET)')
    .argument('<decision>', 'retry | skip | compensate | abort')
    .option('--comment <text>', 'a comment for the audit trail')
    .action((id: string, decision: string, opts: ActOptions) => {
      if (!(DECISIONS as readonly string[]).includes(decision))
        throw usage(`unknown decision "${oneLine(decision)}"; use one of: ${DECISIONS.join(', ')}`);
      return act(ctx, id, 'decide', opts, decision as Decision);
    });
}
