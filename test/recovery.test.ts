import { eventually } from './rig/eventually';
import { GOOD_VERSION } from './rig/fixture-repo';
import { startRollback, waitForStatus } from './rig/rollback';
import { createSandbox, health, type Sandbox } from './rig/sandbox';
import { connectClient, testTaskQueue } from './rig/temporal';
import { killHard, spawnWorkerProcess } from './rig/worker-process';
import type { ChildProcess } from 'node:child_process';
import type { RollbackClient } from '../src/client';

/**
 * A worker lost while the service is down (between stop and start) costs seconds: every step
 * heartbeats with a short heartbeat timeout, so the step re-runs on another worker at once instead
 * of after its start-to-close timeout (it was two minutes).
 */
const taskQueue = testTaskQueue('recovery');
const address = process.env.TEMPORAL_ADDRESS!;
let sb: Sandbox | undefined;
let client: RollbackClient | undefined;
const workers: ChildProcess[] = [];

afterAll(async () => {
  for (const w of workers) await killHard(w);
  await client?.close();
  await sb?.cleanup();
});

test('a worker SIGKILLed during the start step: a new worker re-runs it and the service is back within seconds', async () => {
  sb = await createSandbox({
    name: 'recovery',
    manager: 'command',
    configure: (t) => {
      // A start that takes a while: the worker is killed while the service is down.
      t.service.start = ['bash', '-c', 'sleep 2; exec "$@"', 'slow-start', ...t.service.start];
    },
  });
  workers.push(await spawnWorkerProcess(address, taskQueue));
  client = await connectClient(taskQueue);
  const started = await startRollback(client, sb);
  await waitForStatus(client, started.workflowId, 'running');
  const c = client;
  await eventually(
    'the start step running',
    async () => (await c.progress(started.workflowId)).currentStep === 'start',
    60_000,
    50,
  );
  const killedAt = Date.now();
  await killHard(workers[0]!);
  workers.push(await spawnWorkerProcess(address, taskQueue));

  const result = await client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const start = result.record!.steps.find((s) => s.id === 'start')!;
  expect(start).toMatchObject({ state: 'succeeded' });
  expect(start.attempts).toBeGreaterThanOrEqual(2);
  const finishedAt = Date.parse(start.finishedAt!);
  const downMs = finishedAt - killedAt;
  process.stderr.write(
    `[recovery] worker killed during start; start done on the new worker ${downMs} ms later\n`,
  );
  // Two minutes before short heartbeat timeouts; a bound far under that, not a benchmark.
  expect(downMs).toBeLessThan(45_000);
  expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
});
