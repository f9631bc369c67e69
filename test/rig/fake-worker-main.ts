/**
 * The program spawnFakeWorker runs: a worker with the fake steps on FAKE_WORKER_TASK_QUEUE of
 * TEMPORAL_ADDRESS, holding the first call of FAKE_WORKER_BLOCK until it is cancelled, if set, and
 * each step taking the ms FAKE_WORKER_DURATIONS gives it (JSON: activity name to ms), if set.
 * Run from the sources under tsx, or as a plain-JS build of this file (bench/group.ts).
 */
import { createFakeActivities, type FakeOptions } from './fake-activities';
import { startWorker } from './temporal';

const block = process.env.FAKE_WORKER_BLOCK;
const durations = process.env.FAKE_WORKER_DURATIONS;
startWorker(
  process.env.FAKE_WORKER_TASK_QUEUE!,
  process.env.TEMPORAL_ADDRESS,
  createFakeActivities({
    ...(block ? { block: { [block]: {} } } : {}),
    ...(durations ? { durations: JSON.parse(durations) as FakeOptions['durations'] } : {}),
  }),
).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
