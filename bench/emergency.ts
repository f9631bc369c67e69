/**
 * `npm run bench`: the emergency rollback of the fixture as a workflow against the same steps as a
 * plain bash script (stop, checkout, npm ci, restore .env, start, poll /health), alternating, on
 * this machine; then the orchestration overhead per step, read from the workflow histories. The
 * workflow runs twice per round: as configured (the start's crash watch, beside the health check,
 * ends when that check passes) and with startGraceEndsWhenHealthy false (the start watches the
 * whole 1 s grace whatever the check says), to show the cost of that; and a third time as an
 * on-call engineer runs it, `rollback start emergency --wait` (the compiled CLI when dist/ is fresh),
 * from the command's start to its exit. BENCH_RUNS sets the number of runs of each (default 5).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { entryPoint } from '../bin/entry-point';
import { RollbackClient } from '../src/client';
import { startDevServer } from '../src/temporal/dev-server';
import { getTarget, loadConfig } from '../src/targets/load';
import { planRollback } from '../src/targets/plan';
import { startBenchWorker } from './worker-stack';
import { runCli } from '../test/rig/rollback';
import { createSandbox, type Sandbox } from '../test/rig/sandbox';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { median, eventMs } from './stats';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TASK_QUEUE = 'bench';

interface StepTiming {
  activity: string;
  scheduleToStartMs: number;
  startToCloseMs: number;
  /** From the previous activity's completion to this one's scheduling: a workflow task round trip. */
  gapMs: number;
}

function stepTimings(history: temporal.api.history.v1.IHistory): StepTiming[] {
  const events = history.events ?? [];
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  const out: StepTiming[] = [];
  const closes: number[] = [];
  for (const e of events) {
    const attrs = e.activityTaskCompletedEventAttributes;
    if (!attrs) continue;
    const scheduled = byId.get(Number(attrs.scheduledEventId))!;
    const started = byId.get(Number(attrs.startedEventId))!;
    const activity = scheduled.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
    out.push({
      activity,
      scheduleToStartMs: eventMs(started.eventTime) - eventMs(scheduled.eventTime),
      startToCloseMs: eventMs(e.eventTime) - eventMs(started.eventTime),
      // From the last completion before it was scheduled (a start and its checks are scheduled together).
      gapMs: gapAfter(closes, eventMs(scheduled.eventTime)),
    });
    closes.push(eventMs(e.eventTime));
  }
  return out;
}

function gapAfter(closes: number[], scheduledMs: number): number {
  const before = closes.filter((c) => c <= scheduledMs);
  return before.length ? scheduledMs - Math.max(...before) : 0;
}

async function runWorkflow(
  client: RollbackClient,
  sb: Sandbox,
): Promise<{ ms: number; steps: StepTiming[] }> {
  const request = {
    rollbackId: `${sb.target}-${Date.now()}`,
    target: sb.target,
    kind: 'emergency' as const,
    reason: 'bench',
    requestedBy: 'bench',
    requestedAt: new Date().toISOString(),
  };
  const plan = planRollback(getTarget(loadConfig(sb.configFile), sb.target), request);
  // The same checks as the script: health and version only.
  plan.steps = plan.steps.filter(
    (s) => !['validate-mcp-http', 'validate-mcp-stdio', 'validate-latency'].includes(s.id),
  );
  const t0 = performance.now();
  const started = await client.start(request, plan);
  const result = await client.result(started.workflowId, started.runId);
  const elapsed = performance.now() - t0;
  if (!result.ok) throw new Error(`workflow rollback failed: ${result.error}`);
  const history = await client.client.workflow.getHandle(started.workflowId, started.runId).fetchHistory();
  return { ms: elapsed, steps: stepTimings(history) };
}

/**
 * `rollback start emergency --wait` of the sandbox's target, as a whole process: start to exit.
 * Spawned (runCli), not spawnSync: the worker in this process must go on running the rollback.
 */
async function runRollbackCli(sb: Sandbox, address: string): Promise<number> {
  const t0 = performance.now();
  const r = await runCli(
    [
      '--config',
      sb.configFile,
      'start',
      'emergency',
      '--target',
      sb.target,
      '--reason',
      'bench',
      '--task-queue',
      TASK_QUEUE,
      '--wait',
    ],
    { TEMPORAL_ADDRESS: address },
  );
  const elapsed = performance.now() - t0;
  if (r.code !== 0) throw new Error(`rollback start --wait exited ${r.code}: ${r.stderr}`);
  return elapsed;
}

/** The sandbox's validation cut to what the script checks: health and version. */
const healthOnly = (t: Record<string, any>) => {
  t.validate = { health: t.validate.health };
};

function runScript(sb: Sandbox): number {
  const t0 = performance.now();
  const r = spawnSync(
    'bash',
    [
      join(__dirname, 'plain-rollback.sh'),
      sb.deployPath,
      `lightdash-${sb.target}`,
      'v1.11.4',
      `http://127.0.0.1:${sb.port}/health`,
      '1.11.4',
      join(sb.root, 'script-backup'),
    ],
    { env: { ...process.env, PM2_HOME: sb.pm2Home }, encoding: 'utf8' },
  );
  const elapsed = performance.now() - t0;
  if (r.status !== 0) throw new Error(`plain script failed: ${r.stderr}`);
  return elapsed;
}

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const root = mkdtempSync(join(tmpdir(), 'rb-bench-'));
  process.stderr.write(
    `bench: ${RUNS} runs each, alternating; starting a Temporal dev server and a worker...\n`,
  );
  const server = await startDevServer({ dbFile: join(root, 'temporal.sqlite'), headless: true });
  const { client, stop } = await startBenchWorker(server.address, TASK_QUEUE, { fakes: false });

  const wf: number[] = [];
  const wfFull: number[] = [];
  const cli: number[] = [];
  const sh: number[] = [];
  const steps: StepTiming[][] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const a = await createSandbox({ name: `bench-wf-${i}` });
      try {
        const r = await runWorkflow(client, a);
        wf.push(r.ms);
        steps.push(r.steps);
      } finally {
        await a.cleanup();
      }
      const z = await createSandbox({
        name: `bench-full-${i}`,
        configure: (t) => {
          t.service.startGraceEndsWhenHealthy = false;
        },
      });
      try {
        wfFull.push((await runWorkflow(client, z)).ms);
      } finally {
        await z.cleanup();
      }
      const c = await createSandbox({ name: `bench-cli-${i}`, configure: healthOnly });
      try {
        cli.push(await runRollbackCli(c, server.address));
      } finally {
        await c.cleanup();
      }
      const b = await createSandbox({ name: `bench-sh-${i}` });
      try {
        sh.push(runScript(b));
      } finally {
        await b.cleanup();
      }
      process.stderr.write(
        `  run ${i + 1}/${RUNS}: workflow ${wf[i]!.toFixed(0)} ms, watching the whole grace ${wfFull[i]!.toFixed(0)} ms, CLI ${cli[i]!.toFixed(0)} ms, script ${sh[i]!.toFixed(0)} ms\n`,
      );
    }
  } finally {
    await stop();
    await server.stop();
  }

  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  console.log('\nEmergency rollback v1.20.2 → v1.11.4 (same steps; health-only validation)\n');
  console.log(row(['', 'median ms', 'min ms', 'max ms']));
  console.log(row(['---', '---:', '---:', '---:']));
  const spread = (xs: number[]) => [median(xs), Math.min(...xs), Math.max(...xs)].map((x) => x.toFixed(0));
  console.log(row(['workflow (the start watch ends when the health check passes)', ...spread(wf)]));
  console.log(row(['workflow, startGraceEndsWhenHealthy false (the whole 1 s watch)', ...spread(wfFull)]));
  console.log(
    row([
      `rollback start emergency --wait (${entryPoint().path ? 'compiled CLI' : 'CLI from the sources: run npm run build'})`,
      ...spread(cli),
    ]),
  );
  console.log(row(['bash script', ...spread(sh)]));
  for (const [what, xs] of [
    ['rollback start --wait', cli],
    ['workflow', wf],
    ['workflow watching the whole grace', wfFull],
  ] as const) {
    const ratio = median(xs) / median(sh);
    console.log(
      `\nratio of medians (${what} / script): ${ratio.toFixed(2)} (${((ratio - 1) * 100).toFixed(1)}% ${ratio >= 1 ? 'added' : 'saved'})`,
    );
  }
  console.log('');

  console.log('Per step, median over runs (from the workflow histories)\n');
  console.log(row(['activity', 'schedule→start ms', 'start→close ms', 'gap before ms', 'orchestration ms']));
  console.log(row(['---', '---:', '---:', '---:', '---:']));
  const names = steps[0]!.map((s) => s.activity);
  let totalOverhead = 0;
  names.forEach((name, idx) => {
    const col = (f: (s: StepTiming) => number) => median(steps.map((run) => f(run[idx]!)));
    const overhead = col((s) => s.scheduleToStartMs + s.gapMs);
    totalOverhead += overhead;
    console.log(
      row([
        name,
        col((s) => s.scheduleToStartMs).toFixed(1),
        col((s) => s.startToCloseMs).toFixed(1),
        col((s) => s.gapMs).toFixed(1),
        overhead.toFixed(1),
      ]),
    );
  });
  console.log(
    `\norchestration overhead per rollback (sum of step medians): ${totalOverhead.toFixed(0)} ms over ${names.length} steps`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
