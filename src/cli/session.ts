import type { WorkflowExecutionDescription } from '@temporalio/client';
import type { RollbackClient } from '../client';
import { hostQueue } from '../model/hosts';
import { usage } from './errors';
import { unknownRollback, type RollbackRef } from './ids';
import type { GlobalOpts } from './options';
import type { CliIo } from './output';
import { lazy } from './lazy';

export type { GlobalOpts } from './options';

/** What every command gets: where to write, and the options given before the command. */
export interface CliContext {
  io: CliIo;
  globals(): GlobalOpts;
}

/** Connects (the Temporal client loads only now), runs `fn`, and always closes the connection. */
export async function withClient<T>(
  ctx: CliContext,
  fn: (client: RollbackClient) => Promise<T>,
  taskQueue?: string,
): Promise<T> {
  const { RollbackClient } = lazy.client();
  const { address, namespace, profile } = ctx.globals();
  const client = await RollbackClient.connect({ address, namespace, profile, taskQueue });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** The run an id names; an id that names none is the user's mistake (exit 2), named in the message. */
export async function findRollback(
  client: RollbackClient,
  ref: RollbackRef,
): Promise<WorkflowExecutionDescription> {
  try {
    return await client.describe(ref.workflowId, ref.runId);
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') throw usage(unknownRollback(ref));
    throw err;
  }
}

/** Refuses (exit 2) to act on a rollback that has ended. */
export function requireRunning(desc: WorkflowExecutionDescription, what: string): void {
  if (desc.status.name !== 'RUNNING')
    throw usage(`${desc.workflowId} is not running (it is ${desc.status.name}); there is nothing to ${what}`);
}

/** How to get a worker onto a task queue, for messages. */
export function startWorkerHint(taskQueue: string): string {
  return `start one with "rollback worker --task-queue ${taskQueue}" (or "rollback dev" for a local server and worker)`;
}

/** The host workers among `names` that no worker polls now (their steps would wait on their queue). */
export async function missingHostWorkers(client: RollbackClient, names: Iterable<string>): Promise<string[]> {
  const missing: string[] = [];
  for (const name of new Set(names)) {
    if (!(await client.workerPresence(hostQueue(name), 'activity')).polling) missing.push(name);
  }
  return missing;
}

/**
 * Nothing would run a rollback on a task queue no worker polls, and it would hold the target's
 * workflow id (blocking every later rollback of it) until someone ended it: refuse it instead.
 */
export async function requireWorker(
  client: RollbackClient,
  target: string,
  what = 'rollback',
): Promise<void> {
  const { polling } = await client.workerPresence();
  if (polling) return;
  throw usage(
    `no worker polls task queue "${client.taskQueue}" (namespace ${client.namespace} at ${client.address}): nothing would run this ${what} of ${target}, so it was not started; ` +
      `${startWorkerHint(client.taskQueue)}, or check --task-queue / ROLLBACK_TASK_QUEUE for a typo`,
  );
}
