/**
 * `npm run bench` (part): how long a lost worker costs. Two worker processes poll; the one running
 * the emergency rollback's start step (the service is down) is SIGKILLed. Measured: kill → the step
 * re-running on the other worker (its pending attempt 2 STARTED), and kill → the step done (the
 * service back). BENCH_RUNS sets the runs (default 5).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RollbackClient } from '../src/client';
import { startDevServer } from '../src/temporal/dev-server';
import { startRollback } from '../test/rig/rollback';
import { createSandbox } from '../test/rig/sandbox';
import { killHard, spawnWorkerProcess } from '../test/rig/worker-process';
import { median } from './stats';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function oneRun(address: string, i: number): Promise<{ rerunMs: number; doneMs: number }> {
  const taskQueue = `bench-recovery-${i}`;
  const sb = await createSandbox({
    name: `bench-rec-${i}`,
    manager: 'command',
    configure: (t) => {
      t.service.start = ['bash', '-c', 'sleep 2; exec "$@"', 'slow-start', ...t.service.start];
    },
  });
  const workers = [
    await spawnWorkerProcess(address, taskQueue),
    await spawnWorkerProcess(address, taskQueue),
  ];
  const client = await RollbackClient.connect({ address, taskQueue });
  try {
    const started = await startRollback(client, sb);
    let runningOn: string | undefined;
    while (!runningOn) {
      const d = await client.describe(started.workflowId).catch(() => undefined);
      const pending = d?.raw.pendingActivities?.find((a) => a.activityType?.name === 'startService');
      if (pending?.state === 2 /* STARTED */) runningOn = pending.lastWorkerIdentity ?? undefined;
      else await sleep(20);
    }
    const victim = workers.find((w) => runningOn!.startsWith(`${w.pid}@`));
    if (!victim) throw new Error(`the start step runs on ${runningOn}, not on one of our workers`);
    const killedAt = Date.now();
    await killHard(victim);
    let rerunMs = NaN;
    for (;;) {
      const d = await client.describe(started.workflowId);
      const pending = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'startService');
      if (!pending) break; // done before we looked
      if ((pending.attempt ?? 1) >= 2 && pending.state === 2 /* STARTED */) {
        rerunMs = Date.now() - killedAt;
        break;
      }
      await sleep(50);
    }
    const result = await client.result(started.workflowId, started.runId);
    if (!result.ok) throw new Error(`rollback failed: ${result.error}`);
    const start = result.record!.steps.find((s) => s.id === 'start')!;
    return { rerunMs, doneMs: Date.parse(start.finishedAt!) - killedAt };
  } finally {
    await client.close();
    for (const w of workers) await killHard(w);
    await sb.cleanup();
  }
}

async function main() {
  const root = mkdtempSync(join(tmpdir(), 'rb-bench-rec-'));
  const server = await startDevServer({ dbFile: join(root, 'temporal.sqlite'), headless: true });
  const rerun: number[] = [];
  const done: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const r = await oneRun(server.address, i);
      if (Number.isFinite(r.rerunMs)) rerun.push(r.rerunMs);
      done.push(r.doneMs);
      process.stderr.write(
        `  run ${i + 1}/${RUNS}: re-running after ${r.rerunMs} ms, done after ${r.doneMs} ms\n`,
      );
    }
  } finally {
    await server.stop();
  }
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const line = (name: string, xs: number[]) =>
    row([
      name,
      String(xs.length),
      median(xs).toFixed(0),
      Math.min(...xs).toFixed(0),
      Math.max(...xs).toFixed(0),
    ]);
  console.log(
    '\nA worker SIGKILLed during the start step (the service is down), a new worker started at once\n',
  );
  console.log(row(['from the kill to', 'runs', 'median ms', 'min ms', 'max ms']));
  console.log(row(['---', '---:', '---:', '---:', '---:']));
  console.log(line('the step re-running on the other worker', rerun));
  console.log(line('the step done (service started, 2 s start + 1 s grace)', done));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
