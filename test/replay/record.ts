/**
 * Records the histories the replay suite replays: one rollback of each kind and outcome, run on the
 * time-skipping test server with fake activities and the plans of the golden fixture configs.
 *
 *   npx tsx test/replay/record.ts [OUT_DIR]     (default: test/replay/histories/current)
 *
 * Record a new set after a deliberate change of the workflow (and keep the old set while
 * rollbacks recorded by the old code may still be in flight); see README, "Replay safety".
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { RollbackRequest } from '../../src/model';
import { approveUpdate, decideUpdate } from '../../src/workflows/messages';
import type { FakeOptions } from '../rig/fake-activities';
import { fixturePlan, quietRuntime, runRollback, type Driver } from '../rig/time-skipping';

interface Scenario {
  name: string;
  config: string;
  target: string;
  request: Partial<RollbackRequest>;
  fakes?: Omit<FakeOptions, 'calls'>;
  /** What people do while it runs. */
  drive?: (driver: Driver) => Promise<void>;
}

export const SCENARIOS: Scenario[] = [
  { name: 'emergency-git', config: 'git-pm2', target: 'lightdash-mcp', request: { kind: 'emergency' } },
  {
    name: 'complete-git-approved',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'complete', commits: ['3f2a9c1'] },
    drive: async ({ handle, progressWhen }) => {
      await progressWhen('awaiting approval', (r) => r.status === 'awaiting-approval');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'carol', comment: 'looks right' }] });
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'dave' }] });
    },
  },
  { name: 'partial-git', config: 'git-command', target: 'billing-api', request: { kind: 'partial' } },
  { name: 'emergency-ecs', config: 'ecs', target: 'catalog', request: { kind: 'emergency' } },
  { name: 'partial-ecs', config: 'ecs', target: 'catalog', request: { kind: 'partial' } },
  {
    name: 'compensated-git',
    config: 'git-command',
    target: 'billing-api',
    request: { kind: 'emergency' },
    fakes: {
      fail: { startService: { times: Infinity, type: 'Error', nonRetryable: true } },
      // The health check beside the failing start waits for a service that never comes, as the
      // real one would, until the start's failure cancels it. (A fake that returned at once could
      // finish while the workflow asks to cancel it; the real server takes that in its stride, the
      // time-skipping test server answers ACTIVITY_UNKNOWN and the workflow task never completes.)
      block: { checkHealth: {} },
    },
    drive: async ({ handle, progressWhen }) => {
      await progressWhen('awaiting approval', (r) => r.status === 'awaiting-approval');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] });
    },
  },
  {
    name: 'cancelled-git',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'emergency' },
    fakes: { block: { runInstall: {} } },
    drive: async ({ handle, progressWhen }) => {
      await progressWhen('the install running', (r) => r.currentStep === 'install');
      await handle.cancel();
    },
  },
  {
    // A read-only check fails: the rollback is refused before anything is written or notified.
    name: 'refused-git',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'emergency' },
    fakes: { fail: { resolveGitRef: { times: Infinity, type: 'RefNotFound', nonRetryable: true } } },
  },
  {
    name: 'decision-retry-git',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'partial' },
    fakes: { fail: { restartService: { times: 1, type: 'Error', nonRetryable: true } } },
    drive: async ({ handle, progressWhen }) => {
      await progressWhen('awaiting a decision', (r) => r.status === 'awaiting-decision');
      await handle.executeUpdate(decideUpdate, {
        args: [{ by: 'carol', decision: 'retry', stepId: 'restart' }],
      });
    },
  },
];

async function main(outDir: string): Promise<void> {
  quietRuntime();
  mkdirSync(outDir, { recursive: true });
  for (const s of SCENARIOS) {
    const workflowId = `rollback-${s.target}`;
    const run = await runRollback(fixturePlan(s.config, s.target, s.request), {
      workflowId,
      fakes: s.fakes,
      drive: s.drive,
    });
    writeFileSync(
      join(outDir, `${s.name}.json`),
      JSON.stringify({ workflowId, history: JSON.parse(historyToJSON(run.history)) }, null, 1) + '\n',
    );
    process.stdout.write(
      `${s.name}: ${run.failure ?? run.record.status}, ${run.history.events?.length ?? 0} events\n`,
    );
  }
}

if (require.main === module) {
  main(process.argv[2] ?? join(__dirname, 'histories', 'current')).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
