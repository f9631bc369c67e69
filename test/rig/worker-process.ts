import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { eventually, GiveUp } from './eventually';
import { scratchRoot } from './sandbox';

const ROOT = join(__dirname, '..', '..');

/**
 * A rollback worker in a process of its own (src/worker.ts, as `rollback worker` runs it), so a
 * test or the bench can SIGKILL it mid-step. Resolves once the server sees it polling the queue.
 */
export async function spawnWorkerProcess(address: string, taskQueue: string): Promise<ChildProcess> {
  // One process (tsx's require hook, not its CLI, which runs a child): SIGKILL kills the worker itself.
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', join(ROOT, 'src', 'worker.ts')], {
    env: { ...process.env, TEMPORAL_ADDRESS: address, ROLLBACK_TASK_QUEUE: taskQueue },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return untilPolling(child, address, taskQueue);
}

/**
 * The real `rollback worker` command (bin/rollback.js: the build when fresh, else the sources), as
 * an operator runs it, in a process a test can SIGKILL. Resolves once it says it polls; `stderr`
 * is everything it has written there so far.
 */
export async function spawnCliWorker(
  taskQueue: string,
  opts: { address?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ child: ChildProcess; stderr: () => string }> {
  const args = ['worker', '--task-queue', taskQueue, ...(opts.address ? ['--address', opts.address] : [])];
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'rollback.js'), ...args], {
    env: opts.env ?? process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await eventually(
      'the worker process to poll its task queue',
      () => {
        if (child.exitCode !== null) throw new GiveUp(`worker exited ${child.exitCode}: ${err}`);
        return err.includes('worker polling task queue');
      },
      60_000,
    );
  } catch (e) {
    await killHard(child);
    throw e;
  }
  return { child, stderr: () => err };
}

/**
 * A worker with the fake steps (test/rig/fake-activities.ts) in a process of its own, so a test
 * can SIGKILL it, holding the first call of `block` until it is cancelled, if given. `env` adds to
 * its environment (the Temporal CLI's TLS variables, say); `connection` is how this process asks
 * the server for its pollers. Resolves once the server sees it poll; `dispose` kills it.
 */
export async function spawnFakeWorker(opts: {
  address: string;
  taskQueue: string;
  namespace: string;
  block?: string;
  env?: Record<string, string>;
  connection?: Connection;
  /** A plain-JS build of fake-worker-main.ts to run with node instead of the sources under tsx. */
  compiled?: string;
}): Promise<{ child: ChildProcess; dispose: () => Promise<void> }> {
  const argv = opts.compiled
    ? [opts.compiled]
    : ['-r', require.resolve('tsx/cjs'), join(__dirname, 'fake-worker-main.ts')];
  const child = spawn(process.execPath, argv, {
    env: {
      ...process.env,
      ...opts.env,
      TEMPORAL_ADDRESS: opts.address,
      FAKE_WORKER_TASK_QUEUE: opts.taskQueue,
      FAKE_WORKER_BLOCK: opts.block ?? '',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Stopped by the run's globalTeardown (its service.pid) should the test process die first.
  const marker = mkdtempSync(join(scratchRoot(), 'rb-fake-worker-'));
  writeFileSync(join(marker, 'service.pid'), String(child.pid));
  const dispose = async () => {
    await killHard(child);
    rmSync(marker, { recursive: true, force: true });
  };
  try {
    await untilPolling(child, opts.connection ?? opts.address, opts.taskQueue, {
      namespace: opts.namespace,
      timeoutMs: 90_000,
    });
  } catch (err) {
    await dispose();
    throw err;
  }
  return { child, dispose };
}

/**
 * `rollback worker --host NAME` in a process of its own, in `cwd`, as `user` when given (setpriv
 * keeps the pid, so the poller's identity is this process). Resolves once it polls its host queue.
 */
export async function spawnHostWorker(
  address: string,
  name: string,
  opts: { cwd: string; user?: { uid: number; gid: number; home: string } },
): Promise<ChildProcess> {
  const node = [process.execPath, '-r', require.resolve('tsx/cjs'), join(ROOT, 'src', 'cli', 'main.ts')];
  const argv = [...node, '--address', address, 'worker', '--host', name];
  const full = opts.user
    ? ['setpriv', `--reuid=${opts.user.uid}`, `--regid=${opts.user.gid}`, '--clear-groups', '--', ...argv]
    : argv;
  const child = spawn(full[0]!, full.slice(1), {
    cwd: opts.cwd,
    env: {
      ...process.env,
      ...(opts.user ? { HOME: opts.user.home, USER: undefined, LOGNAME: undefined } : {}),
      ROLLBACK_CONFIG: undefined,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return untilPolling(child, address, `rollback-host-${name}`);
}

/**
 * The identities (`pid@host`) of the activity pollers the server lists on a task queue, through
 * `server` (a connection to reuse, or an address to connect to for this one call).
 */
export async function activityPollers(
  server: Connection | string,
  taskQueue: string,
  namespace = process.env.TEMPORAL_NAMESPACE ?? 'default',
): Promise<string[]> {
  const connection = typeof server === 'string' ? await Connection.connect({ address: server }) : server;
  try {
    const r = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    return (r.pollers ?? []).map((p) => p.identity ?? '');
  } finally {
    if (typeof server === 'string') await connection.close();
  }
}

/**
 * Resolves `child` once the server lists it (its `pid@host` identity: a killed worker stays listed
 * for a while) among the activity pollers of `taskQueue`, asked through `server` (a connection to
 * reuse, or an address to connect to once). Fails at once, with its stderr, if the worker exits.
 * The activity pollers: the server lists the pollers its root partition saw, and a worker's few
 * workflow polls may sit on another partition for a whole long poll (a minute) before one lands
 * there; its several activity polls do not.
 */
async function untilPolling(
  child: ChildProcess,
  server: Connection | string,
  taskQueue: string,
  opts: { namespace?: string; timeoutMs?: number } = {},
): Promise<ChildProcess> {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const connection = typeof server === 'string' ? await Connection.connect({ address: server }) : server;
  try {
    await eventually(
      `worker process ${child.pid} polling ${taskQueue}`,
      async () => {
        if (child.exitCode !== null)
          throw new GiveUp(`the worker exited with code ${child.exitCode}: ${stderr}`);
        return (await activityPollers(connection, taskQueue, opts.namespace)).some((id) =>
          id.startsWith(`${child.pid}@`),
        );
      },
      opts.timeoutMs ?? 60_000,
      200,
    );
    return child;
  } finally {
    if (typeof server === 'string') await connection.close();
  }
}

/** Kills the process at once (no graceful shutdown), as a crashed host would. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
