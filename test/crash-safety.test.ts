import { type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RollbackClient } from '../src/client';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';
import { Cleanup } from './rig/cleanup';
import { eventually } from './rig/eventually';
import { GOOD_VERSION, gitDescribe } from './rig/fixture-repo';
import { portRefuses, withFreshPort } from './rig/ports';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { createSandbox, FIXTURE_TOOLS, health, pm2Status, type Sandbox } from './rig/sandbox';
import { listToolsHttp, startRollback } from './rig/rollback';
import { spawnCliWorker } from './rig/worker-process';

// Workers, clients and servers stop before the sandboxes go: nothing may start a service again.
const cleanups = new Cleanup();
const sandboxes = new Cleanup();

afterAll(async () => {
  try {
    await cleanups.run();
  } finally {
    await sandboxes.run();
  }
});

async function sandbox(name: string): Promise<Sandbox> {
  const sb = await createSandbox({ name });
  sandboxes.add(`sandbox ${name}`, () => sb.cleanup());
  return sb;
}

/** The real `rollback worker` command, as an operator runs it, in a process we can SIGKILL. */
async function spawnWorkerProcess(taskQueue: string, address?: string): Promise<ChildProcess> {
  const { child } = await spawnCliWorker(taskQueue, { address });
  cleanups.add('the worker process', () => child.kill('SIGKILL'));
  return child;
}

async function expectRecovered(sb: Sandbox) {
  expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
  expect(pm2Status(sb.pm2Home, `lightdash-${sb.target}`)).toBe('online');
  expect(await gitDescribe(sb.deployPath)).toBe(`v${GOOD_VERSION}`);
  expect(await listToolsHttp(sb.port)).toHaveLength(FIXTURE_TOOLS);
}

test('a worker killed with SIGKILL in the middle of npm ci: a new worker finishes the same rollback', async () => {
  const taskQueue = testTaskQueue('crash');
  const sb = await sandbox('crash-worker');
  const first = await spawnWorkerProcess(taskQueue);
  const client = await connectClient(taskQueue);
  cleanups.add('the client', () => client.close());

  const started = await startRollback(client, sb);
  const pidFile = join(sb.deployPath, '.rollback-install.pid');
  const npmPid = await eventually(
    'npm ci to start',
    () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0),
    60_000,
  );
  const before = await client.progress(started.workflowId, started.runId);
  expect(before.steps.find((s) => s.id === 'install')?.state).toBe('running');
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const manifest = readFileSync(join(started.plan.backupPath, 'manifest.json'), 'utf8');

  const second = await startWorker(taskQueue);
  cleanups.add('the second worker', () => second.stop());
  const result = await client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const record = result.record!;
  expect(record.status).toBe('succeeded');
  // The install ran again on the new worker; nothing before it ran twice.
  expect(record.steps.find((s) => s.id === 'install')!.attempts).toBe(2);
  for (const id of ['incident', 'inspect', 'backup', 'stop', 'checkout']) {
    expect(record.steps.find((s) => s.id === id)!.attempts).toBe(1);
  }
  // The backup taken before the crash is the one kept: not retaken from a half-rolled-back tree.
  expect(readFileSync(join(started.plan.backupPath, 'manifest.json'), 'utf8')).toBe(manifest);
  // The orphaned npm ci of the dead worker is gone, and no install is left running.
  expect(() => process.kill(npmPid, 0)).toThrow();
  expect(existsSync(pidFile)).toBe(false);
  await expectRecovered(sb);
  const log = readFileSync(join(sb.reportsDir, 'rollback-log.md'), 'utf8');
  expect(log.split(`<!-- rollback:${started.request.rollbackId} -->`)).toHaveLength(2);
});

test('the Temporal server stopped and restarted on the same SQLite file mid-rollback: the rollback finishes', async () => {
  const taskQueue = testTaskQueue('restart');
  const sb = await sandbox('crash-server');
  const dbFile = join(sb.root, 'temporal.sqlite');
  // The restart must bind the same port: one reserved for this test, out of other processes' way.
  const { value: first, reservation } = await withFreshPort('a second Temporal server', (port) =>
    startDevServer({ dbFile, port, headless: true }),
  );
  let server: DevServer = first;
  const address = server.address;
  const port = Number(address.split(':')[1]);
  cleanups.add(`release port ${port}`, () => reservation.release());
  cleanups.add('the second Temporal server', () => server.stop());
  const worker = await startWorker(taskQueue, address);
  cleanups.add('the worker', () => worker.stop());
  let client = await connectClient(taskQueue, address);

  const started = await startRollback(client, sb);
  await eventually('npm ci to start', () => existsSync(join(sb.deployPath, '.rollback-install.pid')), 60_000);
  await client.close();
  await server.stop();
  await eventually(`port ${port} to refuse connections`, () => portRefuses(port));
  server = await startDevServer({ dbFile, port, headless: true });

  client = await RollbackClient.connect({ address, taskQueue });
  cleanups.add('the client', () => client.close());
  const result = await client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.status).toBe('succeeded');
  await expectRecovered(sb);
});
