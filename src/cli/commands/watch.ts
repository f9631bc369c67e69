import type { Command } from 'commander';
import { parseRollbackId } from '../ids';
import { findRollback, withClient, type CliContext } from '../session';
import { lazy } from '../lazy';

/** `rollback watch ID`: live progress until the rollback ends; exit 0 only on success. */
export function registerWatch(program: Command, ctx: CliContext): void {
  program
    .command('watch')
    .description('follow a running rollback live until it ends; exit 0 only on success')
    .argument('<id>', 'workflow id (rollback-TARGET), optionally @RUN_ID')
    .option('--json', 'print only the final outcome, as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const ref = parseRollbackId(id);
      await withClient(ctx, async (client) => {
        const desc = await findRollback(client, ref);
        const { followRollback, printOutcome } = lazy.follow();
        if (!opts.json)
          ctx.io.stderr(
            `watching ${desc.workflowId} (run ${desc.runId}): ${client.webUrl(desc.workflowId, desc.runId)}\n`,
          );
        const result = await followRollback(client, desc.workflowId, desc.runId, {
          json: !!opts.json,
          io: ctx.io,
        });
        printOutcome(ctx.io, result, !!opts.json, { workflowId: desc.workflowId, runId: desc.runId });
      });
    });
}
