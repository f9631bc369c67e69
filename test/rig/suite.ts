import type { RollbackClient } from '../../src/client';
import { Cleanup } from './cleanup';
import { createSandbox, type Sandbox, type SandboxOptions } from './sandbox';
import { connectClient, startWorker, testTaskQueue } from './temporal';

export interface RollbackSuite {
  taskQueue: string;
  /** Connected in beforeAll. */
  client: RollbackClient;
  /** A sandbox that is cleaned up (pm2 killed, files removed) after the suite. */
  sandbox(opts: SandboxOptions): Promise<Sandbox>;
  /** Runs `run` after the suite (after the worker stopped), whether or not the test got that far. */
  defer(what: string, run: () => unknown): void;
}

/**
 * The frame of a test file that runs rollbacks: a real worker on a task queue of its own, a client,
 * and the sandboxes to clean up, set up in beforeAll and torn down in afterAll, however far the
 * setup got and whether or not the tests passed.
 */
export function rollbackSuite(name: string): RollbackSuite {
  const temporal = new Cleanup();
  const sandboxes = new Cleanup(); // and whatever tests defer
  const suite: RollbackSuite = {
    taskQueue: testTaskQueue(name),
    client: undefined as unknown as RollbackClient,
    async sandbox(opts) {
      const sb = await createSandbox(opts);
      sandboxes.add(`sandbox ${opts.name}`, () => sb.cleanup());
      return sb;
    },
    defer: (what, run) => sandboxes.add(what, run),
  };
  beforeAll(async () => {
    const worker = await startWorker(suite.taskQueue);
    temporal.add('the worker', () => worker.stop());
    suite.client = await connectClient(suite.taskQueue);
    temporal.add('the client', () => suite.client.close());
  });
  // The worker stops first: an activity of a rollback a failed test left running must not start
  // a service again after its sandbox is gone.
  afterAll(async () => {
    try {
      await temporal.run();
    } finally {
      await sandboxes.run();
    }
  });
  return suite;
}
