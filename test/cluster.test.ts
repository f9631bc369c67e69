import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import type { RollbackClient } from '../src/client';
import type { RollbackKind } from '../src/model';
import { Cleanup } from './rig/cleanup';
import { startCluster, type TestCluster } from './rig/cluster';
import { commandRollback } from './rig/configs';
import { eventually } from './rig/eventually';
import { createFakeActivities, gate, type FakeCall } from './rig/fake-activities';
import { scratchRoot } from './rig/sandbox';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { activityPollers, killHard, spawnFakeWorker as spawnWorker } from './rig/worker-process';

/**
 * The cluster suite: the project's workflows, unchanged, on a production-shaped Temporal: the real
 * server (v1.32.1, its four services in one process) on PostgreSQL 15, set up as an operator sets
 * one up (test/rig/cluster.ts), instead of the dev server every other suite uses. Several workers
 * poll one task queue, a worker process dies with SIGKILL holding a step, the server is stopped and
 * started again under a running rollback and under one awaiting approval.
 *
 * The workflows, the workers and Temporal are real; the steps are fakes (test/rig/fake-activities.ts),
 * which keeps the suite quick and lets a test hold a step for as long as it needs. The real steps
 * are covered by the dev-server suites.
 */

const EventType = temporal.api.enums.v1.EventType;
const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-cluster-'));
const deployPath = join(root, 'srv');
let cluster: TestCluster;

beforeAll(async () => {
  cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));
  mkdirSync(deployPath);
  spawnSync('git', ['init', '-q', deployPath]);
  cluster = await startCluster();
  cleanup.add('the cluster', () => cluster.stop());
  // The first run builds the server from Go sources (minutes); later runs find it built.
}, 30 * 60_000);

afterAll(() => cleanup.run());

/** A request and its plan, as `rollback start` makes them; carol approves, alice asks. */
function rollback(target: string, kind: RollbackKind) {
  return commandRollback(target, deployPath, root, {
    config: { approvers: ['carol'] },
    request: {
      kind,
      reason: 'v1.20.2 fails (cluster suite)',
      // A complete rollback reverts the offending commits: the fake revert takes any.
      ...(kind === 'complete' ? { commits: ['0123abcd0123'] } : {}),
    },
  });
}

async function client(taskQueue: string): Promise<RollbackClient> {
  const c = await connectClient(taskQueue, cluster.address);
  cleanup.add(`the client of ${taskQueue}`, () => c.close());
  return c;
}

async function inProcessWorker(taskQueue: string, activities: object): Promise<void> {
  const worker = await startWorker(taskQueue, cluster.address, activities);
  cleanup.add(`a worker of ${taskQueue}`, () => worker.stop());
}

/** A worker with the fake steps in a process of its own (so a test can SIGKILL it). */
async function spawnFakeWorker(taskQueue: string, block?: 'stopService'): Promise<ChildProcess> {
  const { child, dispose } = await spawnWorker({
    address: cluster.address,
    namespace: cluster.namespace,
    taskQueue,
    block,
  });
  cleanup.add(`the worker process ${child.pid}`, dispose);
  return child;
}

/** The event types of a history, with their ids: what a restart must keep exactly. */
const eventList = (events: temporal.api.history.v1.IHistoryEvent[]) =>
  events.map((e) => `${String(e.eventId)} ${EventType[e.eventType ?? 0]}`);

/** Who ran each activity (the identity its ActivityTaskStarted event names), by activity type. */
function activityWorkers(events: temporal.api.history.v1.IHistoryEvent[]) {
  const scheduled = new Map<string, string>();
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
  }
  return events
    .filter((e) => e.activityTaskStartedEventAttributes)
    .map((e) => {
      const a = e.activityTaskStartedEventAttributes!;
      return {
        activity: scheduled.get(String(a.scheduledEventId)) ?? '?',
        identity: a.identity ?? '',
        attempt: a.attempt ?? 0,
      };
    });
}

test('emergency and complete rollbacks run to success with three worker processes polling one task queue', async () => {
  const queue = testTaskQueue('cluster-three');
  const spawning = Date.now();
  const workers = await Promise.all([1, 2, 3].map(() => spawnFakeWorker(queue)));
  process.stderr.write(`[cluster] 3 worker processes polling in ${Date.now() - spawning} ms\n`);
  const pids = workers.map((w) => `${w.pid}@`);
  // The server lists all three polling the queue.
  const ids = await activityPollers(cluster.address, queue, cluster.namespace);
  for (const pid of pids) expect(ids.some((id) => id.startsWith(pid))).toBe(true);
  const c = await client(queue);

  const emergency = rollback('cluster-emergency', 'emergency');
  const complete = rollback('cluster-complete', 'complete');
  const e = await c.start(emergency.request, emergency.plan);
  const k = await c.start(complete.request, complete.plan);
  // A complete rollback waits for an approval (the default): carol gives it.
  await eventually(
    'the complete rollback awaiting approval',
    async () => (await c.progress(k.workflowId)).status === 'awaiting-approval',
    60_000,
    200,
  );
  expect(await c.act(k.workflowId, 'approve', { by: 'carol' })).toMatchObject({ approvals: 1, needed: 1 });

  const [er, kr] = await Promise.all([c.result(e.workflowId, e.runId), c.result(k.workflowId, k.runId)]);
  expect(er.error).toBeUndefined();
  expect(er.record).toMatchObject({ status: 'succeeded', kind: 'emergency', target: 'cluster-emergency' });
  expect(er.record!.steps.every((s) => s.state === 'succeeded')).toBe(true);
  expect(kr.error).toBeUndefined();
  expect(kr.record).toMatchObject({ status: 'succeeded', kind: 'complete', target: 'cluster-complete' });
  expect(kr.record!.approvals).toEqual([expect.objectContaining({ by: 'carol', decision: 'approved' })]);
  expect(kr.record!.steps.map((s) => s.id)).toContain('revert');

  // Every step ran on one of the three workers (none elsewhere).
  const ran = [
    ...activityWorkers(await c.history(e.workflowId, e.runId)),
    ...activityWorkers(await c.history(k.workflowId, k.runId)),
  ];
  expect(ran.length).toBeGreaterThanOrEqual(er.record!.steps.length + kr.record!.steps.length);
  for (const r of ran) expect(pids.some((pid) => r.identity.startsWith(pid))).toBe(true);
  const used = pids.filter((pid) => ran.some((r) => r.identity.startsWith(pid))).length;
  process.stderr.write(`[cluster] ${ran.length} activity tasks ran on ${used} of the 3 workers\n`);
  for (const w of workers) await killHard(w);
});

test('a worker process SIGKILLed while it holds a step: the rollback finishes on another worker', async () => {
  const queue = testTaskQueue('cluster-kill');
  const doomed = await spawnFakeWorker(queue, 'stopService');
  const c = await client(queue);
  const { request, plan } = rollback('cluster-kill', 'emergency');
  const started = await c.start(request, plan);

  // The server says the stop step runs, on the worker process (its identity is pid@host).
  const held = await eventually(
    'the stop step running on the worker process',
    async () => {
      const pending = (await c.describe(started.workflowId)).raw.pendingActivities ?? [];
      const stop = pending.find((a) => a.activityType?.name === 'stopService');
      return (
        stop?.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED &&
        stop.lastWorkerIdentity?.startsWith(`${doomed.pid}@`) &&
        stop
      );
    },
    60_000,
    100,
  );
  expect(held.attempt).toBe(1);

  // Two workers in this process take over; the one holding the step dies without a word.
  const calls: FakeCall[] = [];
  for (let i = 0; i < 2; i++) await inProcessWorker(queue, createFakeActivities({ calls }));
  const killedAt = Date.now();
  await killHard(doomed);

  const result = await c.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.status).toBe('succeeded');
  const stop = result.record!.steps.find((s) => s.id === 'stop')!;
  expect(stop).toMatchObject({ state: 'succeeded' });
  expect(stop.attempts).toBeGreaterThanOrEqual(2);
  expect(calls).toContainEqual(expect.objectContaining({ activity: 'stopService', outcome: 'succeeded' }));
  // The history names who ran the step in the end: a worker of this process, on a later attempt.
  const stops = activityWorkers(await c.history(started.workflowId, started.runId)).filter(
    (r) => r.activity === 'stopService',
  );
  expect(stops).toHaveLength(1);
  expect(stops[0]!.identity.startsWith(`${process.pid}@`)).toBe(true);
  expect(stops[0]!.attempt).toBeGreaterThanOrEqual(2);
  process.stderr.write(
    `[cluster] worker killed holding the stop step; the rollback finished ${Date.parse(result.record!.finishedAt!) - killedAt} ms later\n`,
  );
});

test('the server stopped and started again mid-rollback (Postgres stays): the rollback finishes, its history kept', async () => {
  const queue = testTaskQueue('cluster-restart');
  const hold = gate();
  cleanup.add('the held step', () => hold.release());
  const calls: FakeCall[] = [];
  await inProcessWorker(
    queue,
    createFakeActivities({ calls, block: { stopService: { until: hold.until } } }),
  );
  const c = await client(queue);
  const { request, plan } = rollback('cluster-restart', 'emergency');
  const started = await c.start(request, plan);
  await eventually(
    'the stop step running',
    () => calls.find((call) => call.activity === 'stopService' && call.outcome === 'running'),
    60_000,
  );
  const before = await c.history(started.workflowId, started.runId);
  expect(before.map((e) => e.eventType)).toContain(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED);

  // stopServer returns once the frontend's port refuses connections: the server is down.
  await cluster.stopServer();
  await cluster.startServer();
  hold.release();

  const result = await c.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.status).toBe('succeeded');
  expect(result.record!.steps.every((s) => s.state === 'succeeded')).toBe(true);
  const after = await c.history(started.workflowId, started.runId);
  // Every event from before the restart is there, as it was, and the run went on from them.
  expect(eventList(after).slice(0, before.length)).toEqual(eventList(before));
  expect(after.length).toBeGreaterThan(before.length);
  expect(after[0]!.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  expect(after.at(-1)!.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
});

test('an approval waiting across a server restart: approved after it, the rollback finishes', async () => {
  const queue = testTaskQueue('cluster-approval');
  await inProcessWorker(queue, createFakeActivities());
  const c = await client(queue);
  const { request, plan } = rollback('cluster-approval', 'complete');
  const started = await c.start(request, plan);
  await eventually(
    'the rollback awaiting approval',
    async () => (await c.progress(started.workflowId)).status === 'awaiting-approval',
    60_000,
    200,
  );
  const before = await c.history(started.workflowId, started.runId);

  await cluster.stopServer();
  await cluster.startServer();
  // Still waiting after the restart, as the worker (reconnected) answers.
  await eventually(
    'the rollback still awaiting approval after the restart',
    async () => (await c.progress(started.workflowId, undefined, 5000)).status === 'awaiting-approval',
    60_000,
    250,
  );
  expect(
    await c.act(started.workflowId, 'approve', { by: 'carol', comment: 'after the restart' }),
  ).toMatchObject({ approvals: 1, needed: 1 });

  const result = await c.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.status).toBe('succeeded');
  expect(result.record!.approvals).toEqual([
    expect.objectContaining({
      by: 'carol',
      decision: 'approved',
      comment: 'after the restart',
      via: 'update',
    }),
  ]);
  const after = await c.history(started.workflowId, started.runId);
  expect(eventList(after).slice(0, before.length)).toEqual(eventList(before));
  expect(after.map((e) => e.eventType)).toContain(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
  expect(after.at(-1)!.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
});

test("with codec keys, the PostgreSQL databases hold neither the reason nor a step's error text; without, both are there", async () => {
  const withText = (s: string) => [s, Buffer.from(s, 'utf8').toString('hex')];
  const run = async (name: string, keys: string | undefined) => {
    const queue = testTaskQueue(`cluster-codec-${name}`);
    const reason = `reason-canary-${name}-${randomBytes(6).toString('hex')}`;
    const error = `error-canary-${name}-${randomBytes(6).toString('hex')}: ECONNREFUSED 10.0.0.5:5432`;
    const saved = process.env.ROLLBACK_CODEC_KEYS;
    if (keys) process.env.ROLLBACK_CODEC_KEYS = keys;
    try {
      // The worker and the client read the keys when they are made.
      await inProcessWorker(
        queue,
        createFakeActivities({ fail: { stopService: { times: 1, type: 'Error', message: error } } }),
      );
      const c = await client(queue);
      const { request, plan } = commandRollback(`cluster-codec-${name}`, deployPath, root, {
        request: { reason },
      });
      const started = await c.start(request, plan);
      expect((await c.result(started.workflowId, started.runId)).record).toMatchObject({
        status: 'succeeded',
        reason,
      });
    } finally {
      if (saved === undefined) delete process.env.ROLLBACK_CODEC_KEYS;
      else process.env.ROLLBACK_CODEC_KEYS = saved;
    }
    return { reason, error };
  };
  const plain = await run('plain', undefined);
  const sealed = await run('sealed', `k1:${randomBytes(32).toString('base64')}`);
  const dump = await cluster.dumpDatabases();
  // The search works: the run without keys left both texts in the database (bytea, as hex).
  expect(withText(plain.reason).some((t) => dump.includes(t))).toBe(true);
  expect(withText(plain.error.split(':')[0]!).some((t) => dump.includes(t))).toBe(true);
  for (const t of [...withText(sealed.reason), ...withText(sealed.error.split(':')[0]!)]) {
    expect(dump.includes(t)).toBe(false);
  }
});
