import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { stringify } from 'yaml';
import { prepareGroup } from '../src/cli/planning';
import type { RollbackClient } from '../src/client';
import type { RollbackRecord } from '../src/model';
import { Cleanup } from './rig/cleanup';
import { commandTarget } from './rig/configs';
import { eventually } from './rig/eventually';
import { createFakeActivities, type FakeOptions } from './rig/fake-activities';
import { startReceiver } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';

/**
 * Large groups run their waves in batches, each batch a child workflow of its own, so no history
 * grows with the fleet. A real dev server and worker run the group, batch and rollback workflows;
 * the steps are fakes (test/rig/fake-activities.ts), as the fleet's size is what is under test.
 */

const EventType = temporal.api.enums.v1.EventType;
const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-group-batches-'));
afterAll(() => cleanup.run());
cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));

/** A config of `n` command targets (fleet-1..n) and one group over them. */
function fleetConfig(name: string, n: number, group: Record<string, unknown>): string {
  const targets: Record<string, unknown> = {};
  for (let i = 1; i <= n; i++) {
    const target = `${name}-${i}`;
    const path = join(root, target, 'srv');
    mkdirSync(path, { recursive: true });
    execFileSync('git', ['init', '-q', path]);
    targets[target] = commandTarget(target, path, join(root, target));
  }
  const file = join(root, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({ version: 1, targets, groups: { [name]: { targets: Object.keys(targets), ...group } } }),
  );
  return file;
}

async function setup(name: string, fakes: FakeOptions): Promise<RollbackClient> {
  const queue = testTaskQueue(name);
  const worker = await startWorker(queue, undefined, createFakeActivities(fakes));
  cleanup.add(`the worker of ${name}`, () => worker.stop());
  const client = await connectClient(queue);
  cleanup.add(`the client of ${name}`, () => client.close());
  return client;
}

async function runGroup(client: RollbackClient, config: string, group: string) {
  const { input } = prepareGroup({ config }, 'emergency', {
    reason: 'v1.20.2 fails on the fleet',
    requestedBy: 'alice',
    group,
  });
  const started = await client.startGroup(input);
  const result = await client.result(started.workflowId, started.runId);
  return { started, result, record: result.record as RollbackRecord };
}

async function events(client: RollbackClient, workflowId: string) {
  return (await client.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
}

const childType = (e: temporal.api.history.v1.IHistoryEvent) =>
  e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name;

test('a group larger than batchSize runs its waves batch by batch: each batch a child starting its targets, every target once', async () => {
  const calls: NonNullable<FakeOptions['calls']> = [];
  const client = await setup('batches', { calls });
  const config = fleetConfig('batched', 7, { waves: [1, '100%'], maxParallel: 2, batchSize: 2 });
  const { started, result, record } = await runGroup(client, config, 'batched');
  expect(result.error).toBeUndefined();
  expect(record.status).toBe('succeeded');
  expect(record.steps.map((s) => [s.id, s.state])).toEqual(
    Array.from({ length: 7 }, (_, i) => [`batched-${i + 1}`, 'succeeded']),
  );
  // Every target's service started once: no target run twice, none left out.
  const starts = calls.filter((c) => c.activity === 'startService').map((c) => c.workflowId);
  expect(starts.sort()).toEqual(Array.from({ length: 7 }, (_, i) => `rollback-batched-${i + 1}`).sort());

  // The group (7 > batchSize 2) starts no rollback itself: the canary wave is a batch of 1, the
  // second wave (6) 3 batches of 2, each batch a child starting its targets' rollbacks.
  const parent = await events(client, started.workflowId);
  expect(parent.map(childType).filter(Boolean)).toEqual(Array(4).fill('groupBatchWorkflow'));
  for (let b = 1; b <= 4; b++) {
    const batch = await events(client, `${started.workflowId}-batch-${b}`);
    expect(batch.map(childType).filter(Boolean)).toEqual(Array(b === 1 ? 1 : 2).fill('rollbackWorkflow'));
    expect(batch.at(-1)!.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
  }
  // Each target's rollback is its own workflow under the target's id, whoever started it.
  const member = await client.client.workflow.getHandle('rollback-batched-5').describe();
  expect(member.status.name).toBe('COMPLETED');
});

test('the failure threshold holds across batches: the batch after one failure stops at the next, the rest never start', async () => {
  // startService succeeds for the first 4 targets (maxParallel 1: one at a time), then fails for good.
  const client = await setup('batch-threshold', {
    fail: { startService: { times: Infinity, after: 4, type: 'Error', nonRetryable: true } },
  });
  const config = fleetConfig('thresh', 7, {
    waves: [1, '100%'],
    maxParallel: 1,
    batchSize: 2,
    failureThreshold: 2,
    onThreshold: 'stop',
  });
  const { result, record } = await runGroup(client, config, 'thresh');
  expect(result.ok).toBe(false);
  expect(record.status).toBe('failed');
  // Batches: [1], [2,3] ok, [4,5]: 5 fails (1 of 2), [6,7]: 6 fails, the threshold: 7 never starts.
  expect(Object.fromEntries(record.steps.map((s) => [s.id, s.state]))).toEqual({
    'thresh-1': 'succeeded',
    'thresh-2': 'succeeded',
    'thresh-3': 'succeeded',
    'thresh-4': 'succeeded',
    'thresh-5': 'failed',
    'thresh-6': 'failed',
    'thresh-7': 'pending',
  });
  expect(record.steps.find((s) => s.id === 'thresh-7')!.summary).toBe('not started');
  await expect(client.client.workflow.getHandle('rollback-thresh-7').describe()).rejects.toThrow();
});

test('the group sends notices of its own: asked to approve (waves listed), approved, and how it ended; each target its own', async () => {
  const receiver = await startReceiver();
  cleanup.add('the notice receiver', receiver.close);
  // Fake steps, but the real sendNotification: the notices are real HTTP posts to the receiver.
  const queue = testTaskQueue('noticed');
  const fakes: Partial<ReturnType<typeof createFakeActivities>> = createFakeActivities({});
  delete fakes.sendNotification;
  const worker = await startWorker(queue, undefined, fakes);
  cleanup.add('the worker of noticed', () => worker.stop());
  const client = await connectClient(queue);
  cleanup.add('the client of noticed', () => client.close());
  const config = fleetConfig('noticed', 3, {
    waves: [1, '100%'],
    maxParallel: 2,
    approval: { required: true },
  });
  // Top-level channels and approvers, as an operator's config has them.
  const text = readFileSync(config, 'utf8');
  writeFileSync(
    config,
    text +
      stringify({
        approvers: ['carol'],
        notify: { channels: [{ type: 'webhook', name: 'ops', url: `${receiver.url}/hook` }] },
      }),
  );
  const { input } = prepareGroup({ config }, 'emergency', {
    reason: 'v1.20.2 fails on the fleet',
    requestedBy: 'alice',
    group: 'noticed',
  });
  const started = await client.startGroup(input);
  const group = () => receiver.bodies.filter((b) => b.body?.target === 'group:noticed').map((b) => b.body);
  await eventually('the group to ask for approval', () =>
    group().some((e) => e.type === 'awaiting-approval'),
  );
  const asked = group().find((e) => e.type === 'awaiting-approval')!;
  expect(asked).toMatchObject({
    workflowId: started.workflowId,
    requestedBy: 'alice',
    approvers: ['carol'],
    plan: ['wave 1 (canary): noticed-1', 'wave 2: noticed-2, noticed-3'],
  });
  await client.act(started.workflowId, 'approve', { by: 'carol' });
  const result = await client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  await eventually('the group to say it succeeded', () => group().some((e) => e.type === 'succeeded'));
  // Each notice is its own child workflow, started in this order: 'started' and 'awaiting-approval'
  // are sent before anyone can approve, so they may arrive either way round (seen once in CI); the
  // approval and the end come after, in order.
  const types = group().map((e) => e.type);
  expect([...types.slice(0, 2)].sort()).toEqual(['awaiting-approval', 'started']);
  expect(types.slice(2)).toEqual(['approved', 'succeeded']);
  expect(group().find((e) => e.type === 'approved')).toMatchObject({ by: 'carol' });
  // Each target's rollback still announces itself.
  await eventually('every target to say it succeeded', () =>
    ['noticed-1', 'noticed-2', 'noticed-3'].every((t) =>
      receiver.bodies.some((b) => b.body?.target === t && b.body.type === 'succeeded'),
    ),
  );
});
