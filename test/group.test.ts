import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { RollbackRecord } from '../src/model';
import { eventually } from './rig/eventually';
import { BAD_VERSION, GOOD_VERSION } from './rig/fixture-repo';
import { runCli } from './rig/rollback';
import { health, type Sandbox } from './rig/sandbox';
import { rollbackSuite } from './rig/suite';
import { testTaskQueue } from './rig/temporal';
import { killHard, spawnWorkerProcess } from './rig/worker-process';

/**
 * Fleet rollbacks against real fixture services (git working copies, the `command` manager, real
 * health and MCP checks): one group workflow, each target's rollback its child, in waves.
 */

const suite = rollbackSuite('group');

/**
 * Targets whose rollbacks fail for good at validation (they expect an MCP tool count the fixture
 * never has): each undoes itself, back on the bad release.
 */
async function fleet(name: string, n: number, failing: number[] = []): Promise<Sandbox[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      suite.sandbox({
        name: `${name}-${i + 1}`,
        manager: 'command',
        ...(failing.includes(i)
          ? { configure: (t: Record<string, any>) => (t.validate.mcp.expectedTools = 99) }
          : {}),
      }),
    ),
  );
}

/** One rollback.yaml with every sandbox's target and the group over them. */
function groupConfig(sbs: Sandbox[], group: string, settings: Record<string, unknown>): string {
  const targets = Object.assign(
    {},
    ...sbs.map((sb) => (parse(readFileSync(sb.configFile, 'utf8')) as { targets: object }).targets),
  );
  const file = join(sbs[0]!.root, `${group}.yaml`);
  writeFileSync(
    file,
    stringify({
      version: 1,
      approvers: ['bob'],
      targets,
      groups: { [group]: { targets: sbs.map((sb) => sb.target), ...settings } },
    }),
  );
  return file;
}

async function startGroup(file: string, group: string, taskQueue = suite.taskQueue) {
  const r = await runCli([
    '--config',
    file,
    'start',
    'emergency',
    '--group',
    group,
    '--reason',
    'v1.20.2 fails everywhere',
    '--as',
    'alice',
    '--task-queue',
    taskQueue,
    '--json',
  ]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { workflowId: string; runId: string; waves: string[][] };
}

const progress = (workflowId: string) => suite.client.progress(workflowId);

async function childRecord(target: string): Promise<RollbackRecord> {
  return (await suite.client.result(`rollback-${target}`)).record!;
}

async function version(sb: Sandbox): Promise<string | undefined> {
  return ((await health(sb.port)).body as { version?: string }).version;
}

async function neverStarted(sb: Sandbox): Promise<boolean> {
  return suite.client.describe(`rollback-${sb.target}`).then(
    () => false,
    () => true,
  );
}

test('a group of 5 rolls back in waves after one approval: the canary alone, then 2, then 2', async () => {
  const sbs = await fleet('gw', 5);
  const file = groupConfig(sbs, 'web', {
    waves: [1, 3, '100%'],
    maxParallel: 2,
    approval: { required: true },
  });
  const started = await startGroup(file, 'web');
  expect(started.workflowId).toBe('rollback-group-web');
  expect(started.waves).toEqual([
    [sbs[0]!.target],
    sbs.slice(1, 3).map((s) => s.target),
    sbs.slice(3).map((s) => s.target),
  ]);
  await eventually(
    'the approval gate',
    async () => (await progress(started.workflowId)).status === 'awaiting-approval',
  );
  // Nothing starts before the approval, which covers every target.
  for (const sb of sbs) expect(await neverStarted(sb)).toBe(true);
  await suite.client.act(started.workflowId, 'approve', { by: 'bob' });
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.status).toBe('succeeded');
  expect(result.record!.steps.map((s) => [s.id, s.state])).toEqual(sbs.map((sb) => [sb.target, 'succeeded']));

  const children = await Promise.all(sbs.map((sb) => childRecord(sb.target)));
  for (const c of children) {
    expect(c.status).toBe('succeeded');
    expect(c.fromVersion).toBe(`v${BAD_VERSION}`);
    // The group's approval stood for theirs: none waited for one of its own.
    expect(c.approvals).toEqual([]);
  }
  for (const sb of sbs) expect(await version(sb)).toBe(GOOD_VERSION);
  // Each wave starts after the previous one ended.
  const start = (i: number) => Date.parse(children[i]!.startedAt);
  const end = (i: number) => Date.parse(children[i]!.finishedAt!);
  expect(Math.min(start(1), start(2))).toBeGreaterThanOrEqual(end(0));
  expect(Math.min(start(3), start(4))).toBeGreaterThanOrEqual(Math.max(end(1), end(2)));
  // maxParallel 2: the second wave's two ran side by side.
  expect(start(2)).toBeLessThan(end(1));
});

test('a failure in the canary wave stops the group: the canary undoes itself, the rest never start', async () => {
  const sbs = await fleet('gc', 2, [0]);
  const file = groupConfig(sbs, 'canary', { waves: [1, '100%'], onThreshold: 'stop' });
  const started = await startGroup(file, 'canary');
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.record!.status).toBe('failed');
  expect(result.error).toContain('1 target(s) failed (threshold 1)');
  const canary = await childRecord(sbs[0]!.target);
  expect(canary.status).toBe('compensated');
  expect(canary.failure?.stepId).toBe('validate-mcp-http');
  expect(await version(sbs[0]!)).toBe(BAD_VERSION);
  for (const sb of sbs.slice(1)) {
    expect(await neverStarted(sb)).toBe(true);
    expect(await version(sb)).toBe(BAD_VERSION);
  }
  expect(result.record!.steps.slice(1).map((s) => s.state)).toEqual(['pending']);
});

test('two failures in a later wave pause the group for a decision; compensate takes the completed targets back', async () => {
  const sbs = await fleet('gd', 4, [2, 3]);
  const file = groupConfig(sbs, 'pause', {
    waves: [1, '100%'],
    maxParallel: 3,
    failureThreshold: 2,
    onThreshold: 'decide',
  });
  const started = await startGroup(file, 'pause');
  const waiting = await eventually(
    'the group to wait for a decision',
    async () => {
      const p = await progress(started.workflowId);
      return p.status === 'awaiting-decision' ? p : undefined;
    },
    180_000,
  );
  expect(waiting.awaitingDecision?.error).toContain('2 target(s) failed (threshold 2)');
  expect(waiting.steps.map((s) => s.state)).toEqual(['succeeded', 'succeeded', 'failed', 'failed']);
  // The group needed no approval, so the requester may decide (as for a single rollback).
  await suite.client.act(started.workflowId, 'decide', { by: 'alice', decision: 'compensate' });
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.record!.status).toBe('compensated');
  expect(result.record!.undos.map((u) => [u.stepId, u.state])).toEqual([
    [sbs[1]!.target, 'succeeded'],
    [sbs[0]!.target, 'succeeded'],
  ]);
  // Every target is back on what it ran before the group started.
  for (const sb of sbs) expect(await version(sb)).toBe(BAD_VERSION);
});

test('a worker killed mid-wave: a new worker finishes the group, every target rolled back once', async () => {
  const taskQueue = testTaskQueue('group-kill');
  const sbs = await fleet('gk', 2);
  const file = groupConfig(sbs, 'kill', { waves: [1, '100%'], maxParallel: 2 });
  const first = await spawnWorkerProcess(process.env.TEMPORAL_ADDRESS!, taskQueue);
  suite.defer('the first worker process', () => killHard(first));
  const started = await startGroup(file, 'kill', taskQueue);
  await eventually(
    'a second-wave rollback to be running',
    async () => (await progress(started.workflowId)).steps.slice(1).some((s) => s.state === 'running'),
    120_000,
  );
  await killHard(first);
  const second = await spawnWorkerProcess(process.env.TEMPORAL_ADDRESS!, taskQueue);
  suite.defer('the second worker process', () => killHard(second));
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.record!.status).toBe('succeeded');
  for (const sb of sbs) {
    expect(await version(sb)).toBe(GOOD_VERSION);
    // Visibility lags the histories: wait for the run to be listed, then look for a second.
    await eventually(
      `${sb.target}'s rollback listed`,
      async () => (await suite.client.list({ target: sb.target })).length > 0,
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect(await suite.client.list({ target: sb.target })).toHaveLength(1);
  }
});
