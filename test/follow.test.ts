import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { followRollback } from '../src/cli/follow';
import type { CliIo } from '../src/cli/output';
import type { RollbackClient } from '../src/client';
import { Cleanup } from './rig/cleanup';
import { commandRollback } from './rig/configs';
import { eventually } from './rig/eventually';
import { createFakeActivities, gate, type FakeCall } from './rig/fake-activities';
import { scratchRoot } from './rig/sandbox';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';

/**
 * `--wait`, `watch` and `cancel --wait` follow a rollback by the server's long poll on its history:
 * a change is read when it is written, and nothing is read while nothing happens. A real dev server
 * and worker run the rollback; its steps are fakes, one held until the test lets it go.
 */

const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-follow-'));
afterAll(() => cleanup.run());
cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));

/** The client with every read of a rollback counted (the progress query and the describe). */
function counting(client: RollbackClient): { reads: () => number } {
  let reads = 0;
  for (const name of ['progress', 'describe'] as const) {
    const real = client[name].bind(client) as (...args: unknown[]) => Promise<unknown>;
    (client as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      reads++;
      return real(...args);
    };
  }
  return { reads: () => reads };
}

test('following a rollback reads it as each step is scheduled or done, and not at all while a step runs', async () => {
  const held = gate();
  const calls: FakeCall[] = [];
  const queue = testTaskQueue('follow');
  const worker = await startWorker(
    queue,
    undefined,
    createFakeActivities({ block: { stopService: { until: held.until } }, calls }),
  );
  cleanup.add('the worker', () => worker.stop());
  const client = await connectClient(queue);
  cleanup.add('the client', () => client.close());
  const reads = counting(client);

  const path = join(root, 'srv');
  mkdirSync(path, { recursive: true });
  execFileSync('git', ['init', '-q', path]);
  const { request, plan } = commandRollback('follow-svc', path, root);
  const title = (id: string) => plan.steps.find((s) => s.id === id)!.title;
  const lines: string[] = [];
  const io: CliIo = {
    stdout: () => undefined,
    stderr: (t) => void lines.push(t),
    setExitCode: () => undefined,
  };

  const started = await client.start(request, plan);
  const following = followRollback(client, started.workflowId, started.runId, { json: false, io });
  await eventually('the held stop shown running', () => lines.some((l) => l.includes(`▶ ${title('stop')}`)));
  // The stop running on the worker: its scheduling is written. The workflow's answer can show it
  // running before that event is (the query runs on the worker's state), so the read that event
  // brings may still come: wait until the reads stand still, then watch them stand still.
  await eventually('the stop called on the worker', () => calls.some((c) => c.activity === 'stopService'));
  const before = await eventually('the reads to stand still', async () => {
    const n = reads.reads();
    await new Promise((r) => setTimeout(r, 400));
    return reads.reads() === n ? n : undefined;
  });
  // A stretch in which nothing is written to the history: the stop heartbeats, and that is all.
  await new Promise((r) => setTimeout(r, 2500));
  expect(reads.reads()).toBe(before);

  held.release();
  const outcome = await following;
  expect(outcome.ok).toBe(true);
  const text = lines.join('');
  // Every step was seen done, in the plan's order.
  const done = plan.steps.map((s) => text.indexOf(`✔ ${s.title}`));
  expect(done.every((i) => i >= 0)).toBe(true);
  expect([...done].sort((a, b) => a - b)).toEqual(done);
  expect(text.indexOf(`▶ ${title('stop')}`)).toBeLessThan(text.indexOf(`✔ ${title('stop')}`));
}, 60_000);
