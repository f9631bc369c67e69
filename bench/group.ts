/**
 * `npm run bench`: fleet rollbacks. A group of 20 targets (maxParallel 20) against a group of one,
 * alternating (wall ratio of medians), twice: with instant fake steps (what the orchestration
 * itself costs when 20 run at once: the server's writes and the worker's workflow tasks on this
 * machine's CPUs), and with fake steps that take as long as the fixture's real steps (what a fleet
 * rollback costs over one target's when each target's steps run on its own host). Then 50 single
 * rollbacks of 50 targets started at once on one worker in a process of its own (all must succeed;
 * p50/p95 time to finish; the worker process's peak RSS; workflow task latency from the histories;
 * from the sources under tsx, and compiled under plain node). A real dev server and real workers
 * throughout. BENCH_RUNS sets the runs (default 3).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { RollbackClient } from '../src/client';
import { prepareGroup, preparePlan } from '../src/cli/planning';
import { startDevServer } from '../src/temporal/dev-server';
import { spawnFakeWorker } from '../test/rig/worker-process';
import { writeFleetConfig } from './fleet-config';
import { median, pct, eventMs } from './stats';

/**
 * How long the fixture's real steps take, ms (medians of start→close over 5 runs of
 * bench/emergency.ts on 2026-12-07, health-only validation): the fakes of the second group scenario
 * take this long, as each target's own host would.
 */
const REAL_STEP_MS = {
  inspectGitDeployment: 36,
  resolveGitRef: 44,
  analyzeGitRollback: 74,
  recordIncident: 10,
  backupFiles: 15,
  stopService: 128,
  checkoutRef: 42,
  runInstall: 5137,
  restoreConfigFiles: 39,
  startService: 433,
  checkHealth: 440,
  appendRollbackLog: 16,
};

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
  /** Every workflow task of the 50 histories: scheduled → started, started → completed, ms. */
  taskWaitMs: number[];
  taskRunMs: number[];
}

/** Each workflow task of a history: how long it waited for a worker, and how long the worker took. */
function workflowTasks(events: temporal.api.history.v1.IHistoryEvent[]): { wait: number[]; run: number[] } {
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  const wait: number[] = [];
  const run: number[] = [];
  for (const e of events) {
    const done = e.workflowTaskCompletedEventAttributes;
    if (!done) continue;
    const started = byId.get(Number(done.startedEventId));
    const scheduled = byId.get(Number(done.scheduledEventId));
    if (!started || !scheduled) continue;
    wait.push(eventMs(started.eventTime) - eventMs(scheduled.eventTime));
    run.push(eventMs(e.eventTime) - eventMs(started.eventTime));
  }
  return { wait, run };
}

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
  const global = { config, address: server.address };
  const ask = { reason: 'bench', requestedBy: 'bench' };
  // The workflows bundled once (as `npm run build` does), and the worker compiled by tsc and run by
  // plain node (no tsx), as `rollback worker` runs from the build; in .bench/ so that node finds the
  // project's node_modules.
  const bundlePath = join(root, 'workflow-bundle.js');
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../src/workflows'),
    logger: new DefaultLogger('WARN'),
  });
  writeFileSync(bundlePath, code);
  const out = join(__dirname, '..', '.bench', 'compiled');
  rmSync(out, { recursive: true, force: true });
  const tsc = spawnSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', join(__dirname, '..', 'tsconfig.json'), '--outDir', out],
    { encoding: 'utf8' },
  );
  if (tsc.status !== 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
  const compiledMain = join(out, 'test', 'rig', 'fake-worker-main.js');

  /** A fake-step worker process of its own on `queue`, and a client of that queue. */
  async function workerOn(queue: string, env: Record<string, string>, compiled?: string) {
    const worker = await spawnFakeWorker({
      address: server.address,
      taskQueue: queue,
      namespace: 'default',
      env,
      compiled,
    });
    const client = await RollbackClient.connect({ address: server.address, taskQueue: queue });
    return {
      worker,
      client,
      async dispose() {
        await client.close();
        await worker.dispose();
      },
    };
  }

  /** Groups of 1 and of 20, alternating, on the compiled worker; each run's wall time. */
  async function groupRuns(queue: string, durations?: Record<string, number>) {
    const env: Record<string, string> = {
      ROLLBACK_WORKFLOW_BUNDLE: bundlePath,
      ...(durations ? { FAKE_WORKER_DURATIONS: JSON.stringify(durations) } : {}),
    };
    const { client, dispose } = await workerOn(queue, env, compiledMain);
    const wall = async (group: string) => {
      const { input } = prepareGroup(global, 'emergency', { ...ask, group });
      const t0 = performance.now();
      const started = await client.startGroup(input);
      const r = await client.result(started.workflowId, started.runId);
      if (!r.ok) throw new Error(`group ${group}: ${r.error}`);
      return performance.now() - t0;
    };
    const one: number[] = [];
    const twenty: number[] = [];
    try {
      for (let i = 0; i < RUNS; i++) {
        one.push(await wall('one'));
        twenty.push(await wall('twenty'));
        process.stderr.write(
          `  ${durations ? 'real-length' : 'instant'} steps, run ${i + 1}/${RUNS}: group of 1 ${one[i]!.toFixed(0)} ms, of 20 ${twenty[i]!.toFixed(0)} ms\n`,
        );
      }
    } finally {
      await dispose();
    }
    return { one, twenty };
  }

  // 50 single rollbacks, started together, on a worker in a process of its own: its RSS sampled
  // every 50 ms while they run (not VmHWM: that keeps the peak of bundling the workflows at start).
  async function fiftyAtOnce(
    queue: string,
    env: Record<string, string>,
    compiled?: string,
  ): Promise<FiftyResult> {
    const { worker, client, dispose } = await workerOn(queue, env, compiled);
    const pid = worker.child.pid!;
    const idleKb = rssKb(pid);
    let peakKb = idleKb;
    const sampler = setInterval(() => (peakKb = Math.max(peakKb, rssKb(pid))), 50);
    const t0 = performance.now();
    let finished: { ok: boolean; ms: number; workflowId: string }[];
    try {
      finished = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const { request, plan } = preparePlan(global, 'emergency', { ...ask, target: `fleet-${i}` });
          const started = await client.start(request, plan);
          const r = await client.result(started.workflowId, started.runId);
          return { ok: r.ok, ms: performance.now() - t0, workflowId: started.workflowId };
        }),
      );
    } finally {
      clearInterval(sampler);
    }
    const taskWaitMs: number[] = [];
    const taskRunMs: number[] = [];
    for (const f of finished) {
      const { wait, run } = workflowTasks(await client.history(f.workflowId));
      taskWaitMs.push(...wait);
      taskRunMs.push(...run);
    }
    await dispose();
    return {
      ok: finished.filter((f) => f.ok).length,
      times: finished.map((f) => f.ms),
      idleKb,
      peakKb,
      taskWaitMs,
      taskRunMs,
    };
  }

  try {
    const instant = await groupRuns('bench-group-instant');
    const real = await groupRuns('bench-group-real', REAL_STEP_MS);
    // The 50 four ways: the worker bundling the workflows itself at start (what `rollback worker`
    // from the sources does), with a bundle built beforehand (as the test suites run it), compiled
    // under plain node (as `rollback worker` from the build runs), and that with V8's young
    // generation capped at 2 MB a semi-space (as the image runs it): fewer bytes held between
    // scavenges, more scavenges.
    const fifties: [string, FiftyResult][] = [
      [
        'worker bundling the workflows at start',
        await fiftyAtOnce('bench-50', { ROLLBACK_WORKFLOW_BUNDLE: '' }),
      ],
      [
        'worker given a prebuilt bundle',
        await fiftyAtOnce('bench-50-prebuilt', { ROLLBACK_WORKFLOW_BUNDLE: bundlePath }),
      ],
      [
        'compiled worker, plain node, prebuilt bundle',
        await fiftyAtOnce('bench-50-compiled', { ROLLBACK_WORKFLOW_BUNDLE: bundlePath }, compiledMain),
      ],
      [
        'the same with node --max-semi-space-size=2',
        await fiftyAtOnce(
          'bench-50-semi2',
          { ROLLBACK_WORKFLOW_BUNDLE: bundlePath, NODE_OPTIONS: '--max-semi-space-size=2' },
          compiledMain,
        ),
      ],
    ];
    const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
    const ms = (x: number) => `${x.toFixed(0)} ms`;
    const ratioRow = (what: string, r: { one: number[]; twenty: number[] }, goal: string) =>
      row([
        `group of 20 vs group of 1 (maxParallel 20), ${what}: wall ratio of medians`,
        (median(r.twenty) / median(r.one)).toFixed(2),
        `1: ${Math.min(...r.one).toFixed(0)}–${Math.max(...r.one).toFixed(0)} ms; 20: ${Math.min(...r.twenty).toFixed(0)}–${Math.max(...r.twenty).toFixed(0)} ms`,
        goal,
      ]);
    console.log(
      [
        '',
        `Fleet rollbacks (fake steps, real server and workers; ${RUNS} alternating runs of each group)`,
        row(['measure', 'value', 'spread', 'goal']),
        row(['---', '---', '---', '---']),
        ratioRow('steps as long as the real ones (each target on its own host)', real, '≤ 1.5'),
        ratioRow('instant steps (the orchestration alone, on this machine’s CPUs)', instant, ''),
        ...fifties.flatMap(([what, f]) => [
          row([`50 rollbacks at once (${what}): succeeded`, `${f.ok}/50`, '', '50/50']),
          row([
            `50 at once (${what}): time to finish p50 / p95`,
            `${ms(pct(f.times, 50))} / ${ms(pct(f.times, 95))}`,
            '',
            '',
          ]),
          row([
            `50 at once (${what}): peak RSS of the worker process (sampled every 50 ms)`,
            `${(f.peakKb / 1024).toFixed(0)} MB`,
            `idle, polling: ${(f.idleKb / 1024).toFixed(0)} MB`,
            '≤ 250 MB',
          ]),
          row([
            `50 at once (${what}): workflow task latency, scheduled → started p50 / p95 (from the histories)`,
            `${ms(pct(f.taskWaitMs, 50))} / ${ms(pct(f.taskWaitMs, 95))}`,
            `started → completed p50 / p95: ${ms(pct(f.taskRunMs, 50))} / ${ms(pct(f.taskRunMs, 95))}; ${f.taskWaitMs.length} tasks`,
            '',
          ]),
        ]),
      ].join('\n'),
    );
  } finally {
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
