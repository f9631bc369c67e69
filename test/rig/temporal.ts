import { randomBytes } from 'node:crypto';
import { RollbackClient } from '../../src/client';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { createActivities, defaultDeps } from '../../src/activities';
import { createWorker } from '../../src/worker';

/**
 * The worker runtime of a test process: the SDK's logs and the Rust core's (forwarded, not printed
 * raw in colour) go through one logger that keeps errors only, one plain line each. Worker state
 * changes and the "Activity failed" and "Workflow failed" warnings the tests provoke on purpose
 * would drown the test output. Installed before the first worker; a Runtime that already exists in
 * this process (installed by the file itself) is kept.
 */
export function installTestRuntime(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR', logLine),
      telemetryOptions: { logging: { forward: {}, filter: { core: 'ERROR', other: 'ERROR' } } },
    });
  } catch {
    /* a Runtime exists already in this process */
  }
}

function logLine({ level, message, meta }: LogEntry): void {
  const error = meta?.error instanceof Error ? `: ${meta.error.message}` : '';
  process.stderr.write(`[temporal ${level}] ${message}${error}\n`);
}

/** The server and bundle come from globalSetup, through the environment. */
export function testTaskQueue(name: string): string {
  return `test-${name}-${randomBytes(3).toString('hex')}`;
}

export interface RunningWorker {
  stop(): Promise<void>;
}

/** A real worker in this process, on its own task queue, with the prebuilt workflow bundle. */
export async function startWorker(
  taskQueue: string,
  address?: string,
  /** Activities of a test's own, registered beside every product activity. */
  extraActivities?: object,
): Promise<RunningWorker> {
  installTestRuntime();
  const { worker, close } = await createWorker({
    taskQueue,
    address,
    activities: extraActivities && { ...createActivities(defaultDeps()), ...extraActivities },
  });
  const running = worker.run();
  return {
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      try {
        await running;
      } finally {
        await close();
      }
    },
  };
}

export function connectClient(taskQueue: string, address?: string): Promise<RollbackClient> {
  return RollbackClient.connect({ taskQueue, address });
}
