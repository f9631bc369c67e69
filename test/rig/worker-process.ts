import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

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

async function untilPolling(child: ChildProcess, address: string, taskQueue: string): Promise<ChildProcess> {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const connection = await Connection.connect({ address });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`worker exited with code ${child.exitCode}: ${stderr}`);
      // This process by its identity (pid@host): a killed worker stays in the list for a while.
      if ((await activityPollers(connection, taskQueue)).some((id) => id.startsWith(`${child.pid}@`)))
        return child;
      if (Date.now() > deadline) throw new Error(`worker never polled ${taskQueue}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await connection.close();
  }
}

/** Kills the process at once (no graceful shutdown), as a crashed host would. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
