/**
 * Records the histories the replay suite replays: one rollback of each kind and outcome, run on the
 * time-skipping test server with fake activities and the plans of the golden fixture configs.
 *
 *   npx tsx test/replay/record.ts [OUT_DIR]     (default: test/replay/histories/current)
 *
 * Record a new set after a deliberate change of the workflow (and keep the old set while
 * rollbacks recorded by the old code may still be in flight); see README, "Replay safety".
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { getTarget, parseConfig } from '../../src/targets/load';
import type { RollbackRequest } from '../../src/model';
import { planRollback } from '../../src/targets/plan';
import { SEARCH_ATTRIBUTES } from '../../src/model';
import { temporal } from '@temporalio/proto';
import { createFakeActivities, type FakeOptions } from '../rig/fake-activities';

const CONFIGS = join(__dirname, '..', 'fixtures', 'configs');

export function goldenPlan(config: string, target: string, request: Partial<RollbackRequest>) {
  const file = join(CONFIGS, `${config}.yaml`);
  const parsed = parseConfig(readFileSync(file, 'utf8'), file);
  const full: RollbackRequest = {
    rollbackId: `${target}-20261122-000000-beef`,
    target,
    kind: 'emergency',
    reason: 'v1.20.2 fails health checks',
    requestedBy: 'alice',
    requestedAt: '2026-11-22T00:00:00.000Z',
    webUiBase: 'http://127.0.0.1:8233',
    ...request,
  };
  return { request: full, plan: planRollback(getTarget({ file, config: parsed }, target), full, parsed) };
}

interface Scenario {
  name: string;
  config: string;
  target: string;
  request: Partial<RollbackRequest>;
  fakes?: FakeOptions;
  /** What people do while it runs. */
  drive?: (client: Client, workflowId: string) => Promise<void>;
}

async function waitForQuery(client: Client, workflowId: string, ok: (r: any) => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if (ok(await client.workflow.getHandle(workflowId).query('progress'))) return;
    } catch {
      /* not started yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${workflowId}: condition never held`);
}

export const SCENARIOS: Scenario[] = [
  { name: 'emergency-git', config: 'git-pm2', target: 'lightdash-mcp', request: { kind: 'emergency' } },
  {
    name: 'complete-git-approved',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'complete', commits: ['3f2a9c1'] },
    drive: async (client, id) => {
      await waitForQuery(client, id, (r) => r.status === 'awaiting-approval');
      const h = client.workflow.getHandle(id);
      await h.executeUpdate('approve', { args: [{ by: 'carol', comment: 'looks right' }] });
      await h.executeUpdate('approve', { args: [{ by: 'dave' }] });
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
    fakes: { fail: { startService: { times: Infinity, nonRetryable: true } } },
    drive: async (client, id) => {
      await waitForQuery(client, id, (r) => r.status === 'awaiting-approval');
      await client.workflow.getHandle(id).executeUpdate('approve', { args: [{ by: 'carol' }] });
    },
  },
  {
    name: 'cancelled-git',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'emergency' },
    fakes: { block: ['runInstall'] },
    drive: async (client, id) => {
      await waitForQuery(client, id, (r) => r.currentStep === 'install');
      await client.workflow.getHandle(id).cancel();
    },
  },
  {
    name: 'decision-retry-git',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'partial' },
    fakes: { fail: { restartService: { times: 1, nonRetryable: true } } },
    drive: async (client, id) => {
      await waitForQuery(client, id, (r) => r.status === 'awaiting-decision');
      await client.workflow
        .getHandle(id)
        .executeUpdate('decide', { args: [{ by: 'carol', decision: 'retry', stepId: 'restart' }] });
    },
  },
];

export function testServerPath(): string {
  return (
    process.env.TEMPORAL_TEST_SERVER_PATH ??
    join(__dirname, '..', '..', '.tools', 'test-server-venv', 'bin', 'temporal-test-server')
  );
}

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;

/**
 * A time-skipping test server of its own per scenario (~0.1 s to start): abandoned notification
 * children of one rollback were seen to stall updates of the next on a shared one.
 */
export async function withTimeSkipping<T>(fn: (env: TestWorkflowEnvironment) => Promise<T>): Promise<T> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath() } },
  });
  try {
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        SEARCH_ATTRIBUTES.map((k) => [k.name, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
    return await fn(env);
  } finally {
    await env.teardown();
  }
}

async function main(outDir: string): Promise<void> {
  Runtime.install({ logger: new DefaultLogger((process.env.LOG_LEVEL as any) ?? 'ERROR') });
  mkdirSync(outDir, { recursive: true });
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: new DefaultLogger('ERROR'),
  });
  for (const s of SCENARIOS) {
    await withTimeSkipping(async (env) => {
      const taskQueue = `record-${s.name}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: { code },
        activities: createFakeActivities(s.fakes),
      });
      const { request, plan } = goldenPlan(s.config, s.target, s.request);
      const workflowId = `rollback-${s.target}`;
      await worker.runUntil(async () => {
        const handle = await env.client.workflow.start('rollbackWorkflow', {
          taskQueue,
          workflowId,
          args: [{ request, plan }],
        });
        await s.drive?.(env.client, workflowId);
        const outcome = await handle.result().then(
          (r: any) => r.status,
          (e: any) => e.cause?.type ?? e.message,
        );
        const history = await handle.fetchHistory();
        writeFileSync(
          join(outDir, `${s.name}.json`),
          JSON.stringify({ workflowId, history: JSON.parse(historyToJSON(history)) }, null, 1) + '\n',
        );
        process.stdout.write(`${s.name}: ${outcome}, ${history.events?.length ?? 0} events\n`);
      });
    });
  }
}

if (require.main === module) {
  main(process.argv[2] ?? join(__dirname, 'histories', 'current')).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
