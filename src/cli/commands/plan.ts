import type { Command } from 'commander';
import { ROLLBACK_KINDS } from '../../model/kinds';
import { CliExit, EXIT } from '../errors';
import { emit } from '../output';
import { actingAs } from '../people';
import type { CliContext } from '../session';
import { lazy } from '../lazy';

/**
 * `rollback plan KIND --target T`: the exact steps a rollback would run, and what its read-only
 * checks and pre-flight analysis find now; touches nothing.
 */
export function registerPlan(program: Command, ctx: CliContext): void {
  program
    .command('plan')
    .description('print the steps a rollback would run and what its read-only checks find; touches nothing')
    .argument('<kind>', `rollback kind: ${ROLLBACK_KINDS.join(' | ')}`)
    .requiredOption('-t, --target <name>', 'target from the config')
    .option('--to <version>', "version to return to (default: the target's stableVersion)")
    .option('--commit <sha...>', 'complete rollbacks: the offending commit(s), or a range A..B')
    .option('--force', 'redeploy even when the service already runs the version asked for')
    .option('--accept <finding...>', 'blocking findings of the analysis to accept (e.g. migration:NAME)')
    .option('--as <name>', 'who would ask (approval rules depend on it)')
    .option('--offline', 'print the plan only: do not run its read-only checks and analysis')
    .option('--json', 'machine-readable output')
    .action(
      async (
        kind: string,
        opts: {
          target: string;
          to?: string;
          commit?: string[];
          as?: string;
          force?: boolean;
          accept?: string[];
          offline?: boolean;
          json?: boolean;
        },
      ) => {
        const requestedBy = actingAs(opts.as);
        const { preparePlan } = lazy.planning();
        const { formatPlan } = lazy.planFormat();
        const { plan } = preparePlan(ctx.globals(), kind, { ...opts, requestedBy });
        if (opts.offline) return emit(ctx.io, opts.json, formatPlan(plan), plan);
        const { previewChecks, formatPreview } = lazy.preview();
        const preview = await previewChecks(plan);
        emit(ctx.io, opts.json, `${formatPlan(plan)}\n${formatPreview(preview)}`, { ...plan, preview });
        // Refused as `rollback start` would refuse it: exit 2, as for any request that cannot run.
        if (preview.refused) throw new CliExit(EXIT.usage, '');
      },
    );
}
