import type { RollbackClient } from '../../src/client';
import { createSandbox, type Sandbox, type SandboxOptions } from './sandbox';
import { connectClient, startWorker, testTaskQueue, type RunningWorker } from './temporal';

export interface RollbackSuite {
  taskQueue: string;
  /** Connected in beforeAll. */
  client: RollbackClient;
  /** A sandbox that is cleaned up (pm2 killed, files removed) after the suite. */
  sandbox(opts: SandboxOptions): Promise<Sandbox>;
}

/**
 * The frame of a test file that runs rollbacks: a real worker on a task queue of its own, a client,
 * and the sandboxes to clean up, set up in beforeAll and torn down in afterAll.
 */
export function rollbackSuite(name: string): RollbackSuite {
  const sandboxes: Sandbox[] = [];
  let worker: RunningWorker | undefined;
  const suite: RollbackSuite = {
    taskQueue: testTaskQueue(name),
    client: undefined as unknown as RollbackClient,
    async sandbox(opts) {
      const sb = await createSandbox(opts);
      sandboxes.push(sb);
      return sb;
    },
  };
  beforeAll(async () => {
    worker = await startWorker(suite.taskQueue);
    suite.client = await connectClient(suite.taskQueue);
  });
  afterAll(async () => {
    await suite.client?.close();
    await worker?.stop();
    await Promise.all(sandboxes.map((s) => s.cleanup()));
  });
  return suite;
}
