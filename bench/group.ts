/**
 * `npm run bench`: fleet rollbacks. A group of 20 targets (maxParallel 20) against a group of one,
 * alternating (wall ratio of medians), and 50 single rollbacks of 50 targets started at once on
 * one worker in a process of its own (all must succeed; p50/p95 time to finish; the worker
 * process's peak RSS; from the sources under tsx, and compiled under plain node). Fast fake step
 * activities on a real dev server and worker: what is measured is the orchestration (children,
 * waves, histories), not the services. BENCH_RUNS sets the runs (default 3).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { RollbackClient } from '../src/client';
import { prepareGroup, preparePlan } from '../src/cli/planning';
import { startDevServer } from '../src/temporal/dev-server';
import { spawnFakeWorker } from '../test/rig/worker-process';
import { writeFleetConfig } from './fleet-config';
import { startBenchWorker } from './worker-stack';

/** A process's resident set now, in kB, as the kernel counts it. */
function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

const RUNS = Number(process.env.BENCH_RUNS ?? 3);

interface FiftyResult {
  ok: number;
  times: number[];
  idleKb: number;
  peakKb: number;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const root = mkdtempSync(join(tmpdir(), 'rb-bench-group-'));
  const config = writeFleetConfig(root, 50, {
    one: { targets: 1, waves: ['100%'], maxParallel: 1 },
    twenty: { targets: 20, waves: ['100%'], maxParallel: 20 },
  });
  const server = await startDevServer({
    dbFile: process.env.BENCH_DB === 'memory' ? undefined : join(root, 'temporal.sqlite'),
    headless: true,
  });
  const taskQueue = 'bench-group';
  const { client, stop } = await startBenchWorker(server.address, taskQueue, { fakes: true });
  const global = { config, address: server.address };
  const ask = { reason: 'bench', requestedBy: 'bench' };
  const groupWall = async (group: string) => {
    const { input } = prepareGroup(global, 'emergency', { ...ask, group });
    const t0 = performance.now();
    const started = await client.startGroup(input);
    const r = await client.result(started.workflowId, started.runId);
    if (!r.ok) throw new Error(`group ${group}: ${r.error}`);
    return performance.now() - t0;
  };
  try {
    const one: number[] = [];
    const twenty: number[] = [];
    async function fiftyAtOnce(
      queue: string,
      env: Record<string, string>,
      compiled?: string,
    ): Promise<FiftyResult> {
      const lone = await spawnFakeWorker({
        address: server.address,
        taskQueue: queue,
        namespace: 'default',
        env,
        compiled,
      });
      const loneClient = await RollbackClient.connect({ address: server.address, taskQueue: queue });
      const idleKb = rssKb(lone.child.pid!);
      let peakKb = idleKb;
      const sampler = setInterval(() => (peakKb = Math.max(peakKb, rssKb(lone.child.pid!))), 50);
      const t0 = performance.now();
      const finished = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const { request, plan } = preparePlan(global, 'emergency', { ...ask, target: `fleet-${i}` });
          const started = await loneClient.start(request, plan);
          const r = await loneClient.result(started.workflowId, started.runId);
          return { ok: r.ok, ms: performance.now() - t0 };
        }),
      );
      clearInterval(sampler);
      await loneClient.close();
      await lone.dispose();
      return { ok: finished.filter((f) => f.ok).length, times: finished.map((f) => f.ms), idleKb, peakKb };
    }
    for (let i = 0; i < RUNS; i++) {
      one.push(await groupWall('one'));
      twenty.push(await groupWall('twenty'));
      process.stderr.write(
        `  run ${i + 1}/${RUNS}: group of 1 ${one[i]!.toFixed(0)} ms, of 20 ${twenty[i]!.toFixed(0)} ms\n`,
      );
    }
    // 50 single rollbacks, started together, on a worker in a process of its own: its RSS sampled
    // every 50 ms while they run (not VmHWM: that keeps the peak of bundling the workflows at start).
    // Twice: the worker bundling the workflows itself at start (what `rollback worker` does), and
    // with a bundle built beforehand (ROLLBACK_WORKFLOW_BUNDLE, as the test suites run it).
    const bundlePath = join(root, 'workflow-bundle.js');
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('../src/workflows'),
      logger: new DefaultLogger('WARN'),
    });
    writeFileSync(bundlePath, code);
    const selfBundled = await fiftyAtOnce('bench-group-50', { ROLLBACK_WORKFLOW_BUNDLE: '' });
    const prebuilt = await fiftyAtOnce('bench-group-50-prebuilt', { ROLLBACK_WORKFLOW_BUNDLE: bundlePath });
    // Third: the same worker compiled by tsc and run by plain node (no tsx), as `rollback worker`
    // runs from the build; in .bench/ so that node finds the project's node_modules.
    const out = join(__dirname, '..', '.bench', 'compiled');
    rmSync(out, { recursive: true, force: true });
    const tsc = spawnSync(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', join(__dirname, '..', 'tsconfig.json'), '--outDir', out],
      { encoding: 'utf8' },
    );
    if (tsc.status !== 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
    const compiledMain = join(out, 'test', 'rig', 'fake-worker-main.js');
    const compiled = await fiftyAtOnce(
      'bench-group-50-compiled',
      { ROLLBACK_WORKFLOW_BUNDLE: bundlePath },
      compiledMain,
    );
    // Fourth: that worker with V8's young generation capped at 2 MB a semi-space (as the image runs
    // it): fewer bytes held between scavenges, more scavenges.
    const smallYoung = await fiftyAtOnce(
      'bench-group-50-semi2',
      { ROLLBACK_WORKFLOW_BUNDLE: bundlePath, NODE_OPTIONS: '--max-semi-space-size=2' },
      compiledMain,
    );
    const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
    console.log(
      [
        '',
        `Fleet rollbacks (fake steps, real server and worker; ${RUNS} alternating runs)`,
        row(['measure', 'value', 'spread', 'goal']),
        row(['---', '---', '---', '---']),
        row([
          'group of 20 vs group of 1 (maxParallel 20), wall ratio of medians',
          (median(twenty) / median(one)).toFixed(2),
          `1: ${Math.min(...one).toFixed(0)}–${Math.max(...one).toFixed(0)} ms; 20: ${Math.min(...twenty).toFixed(0)}–${Math.max(...twenty).toFixed(0)} ms`,
          '≤ 1.5',
        ]),
        ...[
          ['worker bundling the workflows at start', selfBundled],
          ['worker given a prebuilt bundle', prebuilt],
          ['compiled worker, plain node, prebuilt bundle', compiled],
          ['the same with node --max-semi-space-size=2', smallYoung],
        ].flatMap(([what, r]) => {
          const f = r as FiftyResult;
          return [
            row([`50 rollbacks at once (${what as string}): succeeded`, `${f.ok}/50`, '', '50/50']),
            row([
              `50 at once (${what as string}): time to finish p50 / p95`,
              `${pct(f.times, 50).toFixed(0)} / ${pct(f.times, 95).toFixed(0)} ms`,
              '',
              '',
            ]),
            row([
              `50 at once (${what as string}): peak RSS of the worker process (sampled every 50 ms)`,
              `${(f.peakKb / 1024).toFixed(0)} MB`,
              `idle, polling: ${(f.idleKb / 1024).toFixed(0)} MB`,
              '≤ 250 MB',
            ]),
          ];
        }),
      ].join('\n'),
    );
  } finally {
    await stop();
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
