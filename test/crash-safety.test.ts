import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RollbackClient } from '../src/client';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';
import { GOOD_VERSION, gitDescribe } from './rig/fixture-repo';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { createSandbox, FIXTURE_TOOLS, health, pm2Status, type Sandbox } from './rig/sandbox';
import { listToolsHttp, ROOT, startRollback } from './rig/rollback';

const sandboxes: Sandbox[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await Promise.all(sandboxes.map((s) => s.cleanup()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The real `rollback worker` command, as an operator runs it, in a process we can SIGKILL. */
function spawnWorkerProcess(taskQueue: string, address?: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'rollback.js'),
      'worker',
      '--task-queue',
      taskQueue,
      ...(address ? ['--address', address] : []),
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('worker polling task queue')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`worker exited ${code}: ${err}`)));
  });
}

async function expectRecovered(sb: Sandbox) {
  expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
  expect(pm2Status(sb.pm2Home, `lightdash-${sb.target}`)).toBe('online');
  expect(await gitDescribe(sb.deployPath)).toBe(`v${GOOD_VERSION}`);
  expect(await listToolsHttp(sb.port)).toHaveLength(FIXTURE_TOOLS);
}

test('a worker killed with SIGKILL in the middle of npm ci: a new worker finishes the same rollback', async () => {
  const taskQueue = testTaskQueue('crash');
  const sb = await createSandbox({ name: 'crash-worker' });
  sandboxes.push(sb);
  const first = await spawnWorkerProcess(taskQueue);
  cleanups.push(async () => first.kill('SIGKILL'));
  const client = await connectClient(taskQueue);
  cleanups.push(() => client.close());

  const started = await startRollback(client, sb);
  const pidFile = join(sb.deployPath, '.rollback-install.pid');
  const npmPid = await waitFor('npm ci to start', () =>
    existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) || undefined : undefined,
  );
  const before = await client.progress(started.workflowId, started.runId);
  expect(before.steps.find((s) => s.id === 'install')?.state).toBe('running');
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const manifest = readFileSync(join(started.plan.backupPath, 'manifest.json'), 'utf8');

  const second = await startWorker(taskQueue);
  cleanups.push(() => second.stop());
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
  const sb = await createSandbox({ name: 'crash-server' });
  sandboxes.push(sb);
  const dbFile = join(sb.root, 'temporal.sqlite');
  let server: DevServer = await startDevServer({ dbFile, headless: true });
  const address = server.address;
  const port = Number(address.split(':')[1]);
  cleanups.push(() => server.stop());
  const worker = await startWorker(taskQueue, address);
  cleanups.push(() => worker.stop());
  let client = await connectClient(taskQueue, address);

  const started = await startRollback(client, sb);
  await waitFor('npm ci to start', () => existsSync(join(sb.deployPath, '.rollback-install.pid')));
  await client.close();
  await server.stop();
  await sleep(2000);
  server = await startDevServer({ dbFile, port, headless: true });

  client = await RollbackClient.connect({ address, taskQueue });
  cleanups.push(() => client.close());
  const result = await client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.status).toBe('succeeded');
  await expectRecovered(sb);
});
