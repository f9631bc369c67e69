import type { WorkflowExecutionDescription } from '@temporalio/client';
import type { Command } from 'commander';
import type { RollbackClient } from '../../client';
import { parseRollbackId } from '../ids';
import { emit } from '../output';
import { actingAs } from '../people';
import { findRollback, requireRunning, withClient, type CliContext } from '../session';
import { lazy } from '../lazy';

/**
 * A rollback no worker ever picked up has done nothing, and a cancellation would wait for a worker
 * forever: end it at once instead. Returns the reason it was ended with, or undefined when a worker
 * has run it (then it must be cancelled, so its undos run).
 */
async function endIfNeverPickedUp(
  client: RollbackClient,
  desc: WorkflowExecutionDescription,
  by: string,
): Promise<string | undefined> {
  const { pickedUp } = lazy.history();
  if (pickedUp(await client.history(desc.workflowId, desc.runId))) return undefined;
  const reason = `cancelled by ${by} before any worker picked it up from task queue "${desc.taskQueue}": nothing ran, so there is nothing to undo`;
  await client.terminate(desc.workflowId, desc.runId, reason);
  return reason;
}

/** `rollback cancel ID`: the steps done so far are undone; one nobody ever ran is ended at once. */
export function registerCancel(program: Command, ctx: CliContext): void {
  program
    .command('cancel')
    .description('cancel a running rollback: the steps done so far are undone')
    .argument('<id>', 'workflow id (rollback-TARGET)')
    .option('-w, --wait', 'wait for the undos to finish and print the outcome')
    .option('--as <name>', 'who cancels (default: $ROLLBACK_USER or the OS user)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { wait?: boolean; as?: string; json?: boolean }) => {
      const ref = parseRollbackId(id);
      const by = actingAs(opts.as);
      await withClient(ctx, async (client) => {
        const desc = await findRollback(client, ref);
        requireRunning(desc, 'cancel');
        const { workflowId, runId } = desc;
        const ended = await endIfNeverPickedUp(client, desc, by);
        if (ended) {
          const human = `ended ${workflowId} at once (terminated): no worker ever picked it up from task queue "${desc.taskQueue}", so nothing ran and there is nothing to undo`;
          return emit(ctx.io, opts.json, human, { workflowId, runId, terminated: true, reason: ended });
        }
        await client.cancel(workflowId);
        if (!opts.wait) {
          const human = `cancellation requested for ${workflowId}; the undos run now (follow with: rollback watch ${workflowId})`;
          return emit(ctx.io, opts.json, human, { workflowId, runId, cancelRequested: true });
        }
        const { followRollback, printOutcome } = lazy.follow();
        const result = await followRollback(client, workflowId, runId, { json: !!opts.json, io: ctx.io });
        // Cancelled with every undo done is the outcome asked for; anything else is not.
        printOutcome(
          ctx.io,
          result,
          !!opts.json,
          { workflowId, runId },
          (r) => r.record?.status === 'cancelled',
        );
      });
    });
}
