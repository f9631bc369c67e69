/**
 * `npm run bench` (part): how fast a guard acts. An instance's health turns bad; the guard (a
 * sample every 250 ms, a 1 s window) starts an emergency rollback. Measured: the moment the breach
 * has held its full window (its first breaching sample + the window) → the rollback's first step
 * started, from the workflows' own records. Fake rollback steps (the guard is measured, not the
 * steps). BENCH_RUNS sets the runs (default 5).
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { GuardClient } from '../src/guard-client';
import { resolveGuard } from '../src/targets/guard';
import { getTarget, loadConfig } from '../src/targets/load';
import { startDevServer } from '../src/temporal/dev-server';
import { commandTarget } from '../test/rig/configs';
import { startBenchWorker } from './worker-stack';
import { median } from './stats';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const WINDOW_S = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const root = mkdtempSync(join(tmpdir(), 'rb-bench-guard-'));
  const server = await startDevServer({ dbFile: join(root, 'temporal.sqlite'), headless: true });
  let healthy = true;
  const instance = createServer((req, res) => res.writeHead(healthy ? 200 : 503).end());
  await new Promise<void>((r) => instance.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(instance.address() as AddressInfo).port}/health`;
  const taskQueue = 'bench-guard';
  const { client, stop } = await startBenchWorker(server.address, taskQueue, { fakes: true });
  const guards = new GuardClient(client);
  const lags: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const target = `bench-guard-${i}`;
      mkdirSync(join(root, target, 'srv'), { recursive: true });
      execFileSync('git', ['init', '-q', join(root, target, 'srv')]);
      const file = join(root, target, 'rollback.yaml');
      writeFileSync(
        file,
        stringify({
          version: 1,
          targets: {
            [target]: {
              ...commandTarget(target, join(root, target, 'srv'), join(root, target)),
              guard: {
                intervalSeconds: 0.25,
                rules: [
                  {
                    name: 'down',
                    signal: { type: 'http-health', urls: [url] },
                    above: 0.5,
                    forSeconds: WINDOW_S,
                  },
                ],
              },
            },
          },
        }),
      );
      const loaded = loadConfig(file);
      healthy = true;
      await guards.start(resolveGuard(target, getTarget(loaded, target).guard!, file));
      await sleep(600);
      healthy = false;
      let rollback: { workflowId: string; runId: string } | undefined;
      while (!rollback) {
        [rollback] = await client.list({ target });
        if (!rollback) await sleep(100);
      }
      const result = await client.result(rollback.workflowId, rollback.runId);
      const first = result.record!.steps.find((s) => s.startedAt)!;
      // The first breaching sample is the evidence's second line.
      const firstBreach = result.record!.trigger!.evidence[1]!.trim().split(/\s+/)[0]!;
      const heldAt = Date.parse(firstBreach) + WINDOW_S * 1000;
      const lag = Date.parse(first.startedAt!) - heldAt;
      lags.push(lag);
      await guards.stop(target, 'bench');
      healthy = true;
      process.stderr.write(`  run ${i + 1}/${RUNS}: first step ${lag} ms after the window held\n`);
    }
  } finally {
    await stop();
    instance.close();
    await server.stop();
  }
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  console.log(
    `\nA guard (a sample every 250 ms, a ${WINDOW_S} s window) on one instance that turns unhealthy\n`,
  );
  console.log(row(['from the breach holding its window to', 'runs', 'median ms', 'min ms', 'max ms']));
  console.log(row(['---', '---:', '---:', '---:', '---:']));
  console.log(
    row([
      "the rollback's first step started",
      String(lags.length),
      median(lags).toFixed(0),
      Math.min(...lags).toFixed(0),
      Math.max(...lags).toFixed(0),
    ]),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
