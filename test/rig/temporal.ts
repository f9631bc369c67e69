import { randomBytes } from 'node:crypto';
import { RollbackClient } from '../../src/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createWorker } from '../../src/worker';

// Worker state changes and the expected "Workflow failed" warnings drown the test output.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  /* already installed in this test file's process */
}

/** The server and bundle come from globalSetup, through the environment. */
export function testTaskQueue(name: string): string {
  return `test-${name}-${randomBytes(3).toString('hex')}`;
}

export interface RunningWorker {
  stop(): Promise<void>;
}

/** A real worker in this process, on its own task queue, with the prebuilt workflow bundle. */
export async function startWorker(taskQueue: string, address?: string): Promise<RunningWorker> {
  const { worker, close } = await createWorker({ taskQueue, address });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await close();
    },
  };
}

export function connectClient(taskQueue: string, address?: string): Promise<RollbackClient> {
  return RollbackClient.connect({ taskQueue, address });
}
