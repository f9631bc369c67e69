import type { Command } from 'commander';
import type { RollbackSummary } from '../../client';
import { oneLine } from '../../model/text';
import { usage } from '../errors';
import { emit } from '../output';
import { withClient, type CliContext } from '../session';

function formatRow(r: RollbackSummary): string {
  const t = (s: string | undefined, fallback = '') => oneLine(s ?? fallback);
  return `${r.startTime}  ${r.status.padEnd(10)} ${t(r.kind).padEnd(9)} ${t(r.target)} ${t(r.fromVersion, '?')} → ${t(r.toVersion, '?')}  ${t(r.workflowId)}@${r.runId}`;
}

/** `rollback list [--target T]`: rollbacks, newest first. */
export function registerList(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('list rollbacks, newest first')
    .option('-t, --target <name>', 'only this target')
    .option('--limit <n>', 'at most this many', '20')
    .option('--json', 'machine-readable output')
    .action(async (opts: { target?: string; limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw usage(`--limit must be a whole number above 0, not "${oneLine(opts.limit)}"`);
      await withClient(ctx, async (client) => {
        const rows = await client.list({ target: opts.target, limit });
        emit(ctx.io, opts.json, rows.length ? rows.map(formatRow).join('\n') : 'no rollbacks', rows);
      });
    });
}
