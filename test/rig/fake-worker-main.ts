/**
 * The program spawnFakeWorker runs: a worker with the fake steps on FAKE_WORKER_TASK_QUEUE of
 * TEMPORAL_ADDRESS, holding the first call of FAKE_WORKER_BLOCK until it is cancelled, if set.
 * Run from the sources under tsx, or as a plain-JS build of this file (bench/group.ts).
 */
import { createFakeActivities } from './fake-activities';
import { startWorker } from './temporal';

const block = process.env.FAKE_WORKER_BLOCK;
startWorker(
  process.env.FAKE_WORKER_TASK_QUEUE!,
  process.env.TEMPORAL_ADDRESS,
  createFakeActivities(block ? { block: { [block]: {} } } : {}),
).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
