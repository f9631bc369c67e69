import type { Command } from 'commander';
import { hostQueue } from '../../model/hosts';
import { EXIT } from '../errors';
import { parseRollbackId } from '../ids';
import { emit } from '../output';
import { findRollback, missingHostWorkers, withClient, type CliContext } from '../session';
import { lazy } from '../lazy';

/**
 * `rollback status ID`: each step's state, attempts, timing and last error, and each notice's
 * delivery. Answers without a worker too: then from the workflow's history, and it says so.
 */
export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description(
      "show a rollback's progress: each step's state, attempts, timing and last error, and its notices",
    )
    .argument('<id>', 'workflow id (rollback-TARGET), optionally @RUN_ID')
    .option('--run <runId>', 'a specific run (default: the latest)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { run?: string; json?: boolean }) => {
      const ref = parseRollbackId(id, opts.run);
      await withClient(ctx, async (client) => {
        const desc = await findRollback(client, ref);
        const { readRollback } = lazy.read();
        const { formatRecord } = lazy.progress();
        const { formatNotices } = lazy.notices();
        const view = await readRollback(client, desc, { notices: true });
        const webUrl = client.webUrl(view.workflowId, view.runId);
        // A running step of a host worker that none polls for waits for it.
        const waitingFor = await missingHostWorkers(
          client,
          view.record.steps.filter((s) => s.state === 'running' && s.worker).map((s) => s.worker!),
        );
        const human = [
          formatRecord(view.record),
          ...waitingFor.map(
            (name) =>
              `  waiting for the worker on ${name}: no worker polls ${hostQueue(name)}; start one there: rollback worker --host ${name}`,
          ),
          ...formatNotices(view.notices ?? []),
          `  workflow: ${view.workflowId} (run ${view.runId}), ${view.workflowStatus}`,
          `  web ui:   ${webUrl}`,
          ...(view.note ? [`  note: ${view.note}`] : []),
        ].join('\n');
        emit(ctx.io, opts.json, human, { ...view, webUrl, waitingFor });
        if (view.workflowStatus === 'FAILED' || view.workflowStatus === 'TERMINATED')
          ctx.io.setExitCode(EXIT.failed);
      });
    });
}
