import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, defaultDeps } from './activities';
import { AttemptTaggingInterceptor } from './activities/interceptors';
import { connectionSettings, type ConnectionFlags } from './client';
import { DEFAULT_TASK_QUEUE } from './model';

export { DEFAULT_TASK_QUEUE } from './model';

export interface WorkerSettings extends ConnectionFlags {
  taskQueue?: string;
  /** A prebuilt workflow bundle (tests and `rollback dev` build it once); else bundled at start. */
  workflowBundlePath?: string;
  /** The activities to register; default: every activity, with the worker's own dependencies. */
  activities?: object;
}

export function taskQueueFor(explicit?: string): string {
  return explicit ?? process.env.ROLLBACK_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
}

export async function createWorker(
  settings: WorkerSettings = {},
): Promise<{ worker: Worker; close: () => Promise<void> }> {
  const { address, namespace } = connectionSettings(settings);
  const connection = await NativeConnection.connect({ address });
  const bundlePath = settings.workflowBundlePath ?? process.env.ROLLBACK_WORKFLOW_BUNDLE;
  const options: WorkerOptions = {
    connection,
    namespace,
    taskQueue: taskQueueFor(settings.taskQueue),
    activities: settings.activities ?? createActivities(defaultDeps()),
    interceptors: { activity: [() => ({ inbound: new AttemptTaggingInterceptor() })] },
    ...(bundlePath
      ? { workflowBundle: { codePath: bundlePath } }
      : { workflowsPath: require.resolve('./workflows') }),
  };
  const worker = await Worker.create(options);
  return { worker, close: () => connection.close() };
}

if (require.main === module) {
  createWorker()
    .then(async ({ worker, close }) => {
      await worker.run();
      await close();
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
