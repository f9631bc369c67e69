import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { oneLine } from '../../model/text';
import { ConfigError } from '../../targets/errors';
import { parseRollbackId } from '../ids';
import { withClient, type CliContext } from '../session';
import { lazy } from '../lazy';

interface ReportOptions {
  run?: string;
  format: string;
  json?: boolean;
  out?: string;
  open?: boolean;
}

/** `rollback report ID [--format md|json] [--out DIR]`: rebuilds a rollback's reports from its record. */
export function registerReport(program: Command, ctx: CliContext): void {
  program
    .command('report')
    .description(
      "rebuild a rollback's incident log, rollback-log entry and post-rollback analysis from its record",
    )
    .argument('<id>', 'workflow id (rollback-TARGET, optionally @RUN_ID) or rollback id')
    .option('--run <runId>', 'a specific run (default: the latest)')
    .option('--format <format>', 'md or json', 'md')
    .option('--json', 'same as --format json')
    .option(
      '--out <dir>',
      'also write incident.md, rollback-log-entry.md, analysis.md, timeline.svg and record.json there',
    )
    .option(
      '--open',
      'write the reports (to --out, or a folder under the temp dir) and print the timeline and analysis paths',
    )
    .action(async (id: string, opts: ReportOptions) => {
      const format = opts.json ? 'json' : opts.format;
      if (format !== 'md' && format !== 'json')
        throw new ConfigError(`unknown report format "${oneLine(opts.format)}"; use md or json`);
      const ref = parseRollbackId(id, opts.run);
      const { bundleJson, loadRollback, renderBundleMarkdown } = lazy.report();
      const { buildReports } = lazy.reports();
      await withClient(ctx, async (client) => {
        const loaded = await loadRollback(client, id, ref.runId);
        const bundle = buildReports(loaded.record, loaded.incident ?? undefined);
        if (!loaded.record.finishedAt)
          ctx.io.stderr(
            `note: ${loaded.workflowId} is still ${loaded.record.status}; the reports describe it so far\n`,
          );
        if (opts.out || opts.open) {
          const dir = resolve(opts.out ?? join(tmpdir(), `rollback-report-${loaded.record.rollbackId}`));
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, 'incident.md'), bundle.incident);
          writeFileSync(join(dir, 'rollback-log-entry.md'), bundle.logEntry);
          writeFileSync(join(dir, 'analysis.md'), bundle.analysis);
          writeFileSync(join(dir, 'timeline.svg'), bundle.timeline);
          writeFileSync(join(dir, 'record.json'), JSON.stringify(loaded.record, null, 2));
          ctx.io.stderr(`reports written to ${dir}\n`);
          if (opts.open) {
            ctx.io.stdout(`${join(dir, 'timeline.svg')}\n${join(dir, 'analysis.md')}\n`);
            return;
          }
        }
        ctx.io.stdout(
          format === 'json'
            ? JSON.stringify(bundleJson(loaded, bundle), null, 2) + '\n'
            : renderBundleMarkdown(bundle),
        );
      });
    });
}
