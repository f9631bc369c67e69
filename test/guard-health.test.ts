import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RollbackClient } from '../src/client';
import { createActivities } from '../src/activities';
import { defaultDeps } from '../src/activities/deps';
import { GuardClient } from '../src/guard-client';
import { guardWorkflowId, type GuardStatus } from '../src/model/guard';
import { resolveGuard } from '../src/targets/guard';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';
import { getTarget, loadConfig } from '../src/targets/load';
import { Cleanup } from './rig/cleanup';
import { commandTarget } from './rig/configs';
import { eventually } from './rig/eventually';
import { createFakeActivities, gate, type FakeCall } from './rig/fake-activities';
import { startReceiver } from './rig/rollback';
import { portRefuses, withFreshPort } from './rig/ports';
import { scratchRoot } from './rig/sandbox';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { killHard, spawnWorkerProcess } from './rig/worker-process';

/**
 * Guards on the health of several instances: real HTTP instances the test turns bad, the guard
 * workflow on the dev server with the real signal activities, and fake rollback steps (the guard's
 * decisions are under test here; test/guard.test.ts runs a real rollback).
 */

const taskQueue = testTaskQueue('guard-health');
const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-guard-health-'));
let client: RollbackClient;
let guards: GuardClient;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

interface Instance {
  url: string;
  healthy: boolean;
  server: Server;
}
const instances: Instance[] = [];

beforeAll(async () => {
  cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));
  for (let i = 0; i < 3; i++) {
    const instance = { healthy: true } as Instance;
    instance.server = createServer((req, res) => res.writeHead(instance.healthy ? 200 : 503).end());
    await new Promise<void>((r) => instance.server.listen(0, '127.0.0.1', () => r()));
    instance.url = `http://127.0.0.1:${(instance.server.address() as AddressInfo).port}/health`;
    cleanup.add(`instance ${i}`, () => new Promise((r) => instance.server.close(r)));
    instances.push(instance);
  }
  receiver = await startReceiver();
  cleanup.add('the receiver', () => receiver.close());
  // Fake rollback steps, real notifications (the escalation notice is under test).
  const { sendNotification } = createActivities(defaultDeps());
  const worker = await startWorker(taskQueue, undefined, { ...createFakeActivities(), sendNotification });
  cleanup.add('the worker', () => worker.stop());
  client = await connectClient(taskQueue);
  cleanup.add('the client', () => client.close());
  guards = new GuardClient(client);
});

afterAll(() => cleanup.run());

/** A config with one target and its guard; returns the guard as the workflow runs it. */
function guardOf(target: string, guard: Record<string, unknown>) {
  const dir = join(root, target);
  mkdirSync(join(dir, 'srv'), { recursive: true });
  execFileSync('git', ['init', '-q', join(dir, 'srv')]);
  const file = join(dir, 'rollback.yaml');
  writeFileSync(
    file,
    stringify({
      version: 1,
      notify: { channels: [{ type: 'webhook', url: `${receiver.url}/${target}` }] },
      targets: { [target]: { ...commandTarget(target, join(dir, 'srv'), dir), guard } },
    }),
  );
  const loaded = loadConfig(file);
  return resolveGuard(target, getTarget(loaded, target).guard!, file, {
    notify: loaded.config.notify!.channels,
  });
}

const healthRule = (forSeconds: number, action = 'rollback') => ({
  name: 'unhealthy',
  signal: { type: 'http-health', urls: instances.map((i) => i.url), timeoutMs: 500 },
  above: 0.5,
  forSeconds,
  action,
});

function setHealthy(...healthy: boolean[]) {
  healthy.forEach((h, i) => (instances[i].healthy = h));
}

const lastValue = (s: GuardStatus) => s.rules[0].last?.value;

test('1 of 3 instances unhealthy for the window starts nothing; 2 of 3 start a rollback; a second breach within the cool-down escalates instead', async () => {
  const target = 'guard-health-a';
  await guards.start(guardOf(target, { intervalSeconds: 0.5, coolDownSeconds: 600, rules: [healthRule(2)] }));
  cleanup.add('the guard', () => guards.stop(target, 'test').catch(() => undefined));

  setHealthy(false, true, true);
  await eventually(
    'the guard sees 1 of 3 down',
    async () => lastValue(await guards.status(target)) === 1 / 3,
  );
  await new Promise((r) => setTimeout(r, 3000));
  expect((await guards.status(target)).state.actions).toEqual([]);
  expect(await client.list({ target })).toEqual([]);

  setHealthy(false, false, true);
  const rollback = await eventually(
    'a rollback starts',
    async () => (await client.list({ target }))[0],
    20_000,
    200,
  );
  const result = await client.result(rollback.workflowId, rollback.runId);
  expect(result.record).toMatchObject({
    status: 'succeeded',
    kind: 'emergency',
    requestedBy: 'guard:unhealthy',
  });
  expect(result.record!.trigger!.evidence.slice(1).every((l) => l.includes('0.6666'))).toBe(true);

  // Still 2 of 3 down after the rollback: the rule holds again, inside the cool-down.
  const escalated = await eventually(
    'the guard escalates',
    async () => (await guards.status(target)).state.actions.find((a) => a.action === 'escalated'),
    20_000,
    200,
  );
  expect(escalated.detail).toMatch(/within the cool-down of the rollback at /);
  expect(await client.list({ target })).toHaveLength(1);
  const notice = await eventually('the escalation notice', () =>
    receiver.bodies.find((b) => b.path === `/${target}` && b.body?.type === 'guard-escalated'),
  );
  expect(notice.body.message).toContain(`guard of ${target}: rule unhealthy`);
  expect(notice.body.message).toContain('does not start another');
  setHealthy(true, true, true);
});

test('a rule that holds again while the guard’s own rollback still runs waits for it; once that rollback ends, it escalates', async () => {
  const target = 'guard-health-d';
  const queue = testTaskQueue('guard-slow');
  const held = gate();
  const calls: FakeCall[] = [];
  const { sendNotification } = createActivities(defaultDeps());
  const slow = await startWorker(queue, undefined, {
    ...createFakeActivities({ calls, block: { stopService: { until: held.until } } }),
    sendNotification,
  });
  cleanup.add('the slow worker', () => slow.stop());
  cleanup.add('the held step', () => held.release());
  const queued = new GuardClient(await connectClient(queue));
  await queued.start(guardOf(target, { intervalSeconds: 0.5, coolDownSeconds: 600, rules: [healthRule(1)] }));
  cleanup.add('the guard', () => queued.stop(target, 'test').catch(() => undefined));

  setHealthy(false, false, true);
  try {
    await eventually('the rollback holds at its stop step', () =>
      calls.find((c) => c.activity === 'stopService' && c.outcome === 'running'),
    );
    const waiting = await eventually(
      'the guard sees its rollback still running',
      async () => (await queued.status(target)).state.actions.find((a) => a.action === 'already-running'),
      20_000,
      200,
    );
    expect(waiting.detail).toMatch(
      /^the rollback it started \(rollback-guard-health-d\) is still running; rule unhealthy/,
    );
    const actions = (await queued.status(target)).state.actions.map((a) => a.action);
    expect(actions).not.toContain('escalated');
    expect(
      receiver.bodies.filter((b) => b.path === `/${target}` && b.body?.type === 'guard-escalated'),
    ).toEqual([]);

    held.release();
    const escalated = await eventually(
      'the rollback ended, the guard escalates',
      async () => (await queued.status(target)).state.actions.find((a) => a.action === 'escalated'),
      30_000,
      200,
    );
    expect(escalated.detail).toMatch(/within the cool-down of the rollback at /);
    expect(await client.list({ target })).toHaveLength(1);
  } finally {
    setHealthy(true, true, true);
  }
});

test('a paused guard records and starts nothing; resumed, it acts', async () => {
  const target = 'guard-health-b';
  await guards.start(guardOf(target, { intervalSeconds: 0.5, coolDownSeconds: 0, rules: [healthRule(1.5)] }));
  cleanup.add('the guard', () => guards.stop(target, 'test').catch(() => undefined));
  const paused = await guards.pause(target, 'carol', 'deploy in progress');
  expect(paused.state).toMatchObject({ paused: true, pausedBy: 'carol' });

  setHealthy(false, false, false);
  const recorded = await eventually(
    'the paused guard records the breach',
    async () => (await guards.status(target)).state.actions.find((a) => a.rule === 'unhealthy'),
    20_000,
    200,
  );
  expect(recorded).toMatchObject({ action: 'recorded' });
  expect(recorded.detail).toMatch(/^paused; rule unhealthy/);
  expect(await client.list({ target })).toEqual([]);

  await guards.resume(target, 'carol');
  await eventually(
    'a rollback starts once resumed',
    async () => (await client.list({ target }))[0],
    20_000,
    200,
  );
  setHealthy(true, true, true);
});

test('the guard worker SIGKILLed mid-window and restarted: the window carries on; continue-as-new keeps each run short', async () => {
  const target = 'guard-health-c';
  const queue = testTaskQueue('guard-kill');
  const spec = guardOf(target, { intervalSeconds: 0.5, samplesPerRun: 4, rules: [healthRule(5, 'propose')] });
  let worker: ChildProcess = await spawnWorkerProcess(client.address, queue);
  cleanup.add('the worker process', () => killHard(worker));
  const queued = new GuardClient(await connectClient(queue));
  await queued.start(spec);
  cleanup.add('the guard', () => queued.stop(target, 'test').catch(() => undefined));

  setHealthy(false, false, false);
  const before = await eventually('the breach has run for 2 s', async () => {
    const s = await queued.status(target);
    return s.rules[0].heldSeconds >= 2 && s;
  });
  const since = before.state.rules.unhealthy.breachSince;
  await killHard(worker);
  worker = await spawnWorkerProcess(client.address, queue);
  const restartedAt = Date.now();

  const proposed = await eventually(
    'the rule holds for its whole window and the guard proposes a rollback',
    async () => (await queued.status(target)).state.actions.find((a) => a.action === 'proposed'),
    30_000,
    200,
  );
  expect(proposed.detail).toMatch(
    /^rule unhealthy: share of 3 instance\(s\) unhealthy > 0\.5 held \d+ s \(window 5 s\)/,
  );
  // The breach under way when the worker died is the one that held: its hold is counted from
  // before the kill (a window begun anew by the restarted worker would be 2 s shorter, at least).
  // Not a wall-clock bound on the restart: a dead worker's sticky task takes seconds to move on.
  const held = Number(/held (\d+) s/.exec(proposed.detail)![1]) * 1000;
  expect(Date.parse(proposed.at) - Date.parse(since!)).toBeGreaterThanOrEqual(5000);
  expect(held).toBeGreaterThanOrEqual(Date.parse(proposed.at) - Date.parse(since!) - 1000);
  expect(Date.parse(since!)).toBeLessThan(restartedAt - 2000);

  // Each run took at most samplesPerRun samples, then continued as new with the windows.
  // (The list is the visibility store's, which catches up with a run's close a moment later.)
  const runs = await eventually('a run continued as new, in the list', async () => {
    const seen: { status: string; events: number }[] = [];
    for await (const wf of client.client.workflow.list({
      query: `WorkflowId = '${guardWorkflowId(target)}'`,
    })) {
      const history = await client.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      seen.push({ status: wf.status.name, events: history.events?.length ?? 0 });
    }
    return seen.some((r) => r.status === 'CONTINUED_AS_NEW') && seen;
  });
  // The count (like the windows) carries over from run to run: it passes samplesPerRun, which a run
  // starting from nothing never does (it continues as new at 4). A run just begun may not have
  // sampled yet, so this waits for its first sample.
  await eventually(
    'the count passes samplesPerRun',
    async () => (await queued.status(target)).state.samplesTaken > 4,
    20_000,
    200,
  );
  for (const r of runs) expect(r.events).toBeLessThan(80);
  expect(await client.list({ target })).toEqual([]);
  setHealthy(true, true, true);
});

test('the Temporal server stopped and restarted mid-window: the guard resumes its windows', async () => {
  const target = 'guard-health-d';
  const queue = testTaskQueue('guard-restart');
  const dbFile = join(root, 'temporal-guard.sqlite');
  // The restart must bind the same port: one reserved for this test.
  const { value: first, reservation } = await withFreshPort('a Temporal server of its own', (port) =>
    startDevServer({ dbFile, port, headless: true }),
  );
  let server: DevServer = first;
  const address = server.address;
  const port = Number(address.split(':')[1]);
  cleanup.add(`release port ${port}`, () => reservation.release());
  cleanup.add('the own Temporal server', () => server.stop());
  const worker = await startWorker(queue, address, createFakeActivities());
  cleanup.add('the worker on the own server', () => worker.stop());
  let own = await connectClient(queue, address);
  await new GuardClient(own).start(
    guardOf(target, { intervalSeconds: 0.5, rules: [healthRule(6, 'propose')] }),
  );

  setHealthy(false, false, false);
  const before = await eventually('the breach has run for 2 s', async () => {
    const s = await new GuardClient(own).status(target);
    return s.rules[0].heldSeconds >= 2 && s;
  });
  const since = before.state.rules.unhealthy.breachSince!;
  await own.close();
  await server.stop();
  await eventually(`port ${port} to refuse connections`, () => portRefuses(port));
  server = await startDevServer({ dbFile, port, headless: true });
  const restartedAt = Date.now();
  own = await connectClient(queue, address);
  cleanup.add('the client of the own server', () => own.close());
  const guard = new GuardClient(own);
  cleanup.add('the guard on the own server', () => guard.stop(target, 'test').catch(() => undefined));

  const proposed = await eventually(
    'the guard proposes once the window has held',
    async () => (await guard.status(target)).state.actions.find((a) => a.action === 'proposed'),
    60_000,
    250,
  );
  expect(Date.parse(proposed.at) - Date.parse(since)).toBeGreaterThanOrEqual(6000);
  expect(Date.parse(proposed.at)).toBeLessThan(restartedAt + 6000);
  setHealthy(true, true, true);
});
