import { RollbackClient } from '../src/client';
import { createActivities, defaultDeps } from '../src/activities';
import { createWorker } from '../src/worker';
import { createFakeActivities } from '../test/rig/fake-activities';

/**
 * A worker running on `taskQueue` of the server at `address` and a client of that queue, for the
 * benches. `fakes`: every product activity with the fast fake steps over them (the orchestration is
 * measured, not the services); else the real steps. `stop` closes the client, then the worker.
 */
export async function startBenchWorker(
  address: string,
  taskQueue: string,
  opts: { fakes: boolean },
): Promise<{ client: RollbackClient; stop: () => Promise<void> }> {
  const { worker, close } = await createWorker({
    address,
    taskQueue,
    ...(opts.fakes ? { activities: { ...createActivities(defaultDeps()), ...createFakeActivities() } } : {}),
  });
  const running = worker.run();
  const client = await RollbackClient.connect({ address, taskQueue });
  return {
    client,
    async stop() {
      await client.close();
      worker.shutdown();
      await running;
      await close();
    },
  };
}
