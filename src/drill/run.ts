import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createActivities, defaultDeps, type Activities, type ActivityDeps } from '../activities';
import { LOCAL_HOST } from '../runner/local-host';
import type { McpCheckInput } from '../activities/validate';
import { webUiBase, type RollbackClient } from '../client';
import type { Plan, RollbackRecord, RollbackRequest } from '../model';
import { computeTiming } from '../reports/analysis';
import { ConfigError } from '../targets/errors';
import { planRollback } from '../targets/plan';
import { breakTarget, prepareScenario, type DrillScenario, type ScenarioOptions } from './scenarios';
import type { DrillTarget } from './target';

/**
 * A rollback drill: break a sandbox on purpose, run the real emergency rollback through Temporal,
 * check the service came back, and measure how long that took.
 */

export interface DrillPhase {
  phase: 'baseline' | 'prepare' | 'break' | 'confirm broken' | 'rollback' | 'verify recovery';
  ms: number;
  ok: boolean;
  detail: string;
}

export interface DrillResult {
  target: string;
  scenario: DrillScenario;
  rollbackId: string;
  workflowId: string | null;
  runId: string | null;
  webUrl: string | null;
  toVersion: string;
  /** The service was observably broken after the damage (health or tools failing). */
  broken: boolean;
  /** The rollback succeeded and every recovery check passed. */
  recovered: boolean;
  /** From starting the rollback to the recovery checks passing: the time to restore. */
  timeToRestoreMs: number | null;
  /** The workflow's own measure: from its start to its first passing health check. */
  workflowTimeToRestoreMs: number | null;
  rollbackMs: number | null;
  rollbackStatus: string | null;
  rollbackError: string | null;
  phases: DrillPhase[];
  checks: { check: string; ok: boolean; detail: string }[];
  startedAt: string;
  finishedAt: string;
  reportFile: string | null;
}

export interface DrillOptions extends ScenarioOptions {
  client: RollbackClient;
  drill: DrillTarget;
  scenario: DrillScenario;
  requestedBy: string;
  log?: (line: string) => void;
  /** Whether to write REPORTS/ID/drill.json and drill.md (default true). */
  writeReport?: boolean;
  /** The activities' dependencies (default: this host's); the drill uses the rollback's own verbs. */
  deps?: ActivityDeps;
}

type HealthInput = Parameters<Activities['checkHealth']>[0];

function drillRollbackId(target: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${target}-drill-${stamp}-${randomBytes(2).toString('hex')}`;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: Error; ms: number }> {
  const t0 = Date.now();
  try {
    return { value: await fn(), ms: Date.now() - t0 };
  } catch (err) {
    return { error: err as Error, ms: Date.now() - t0 };
  }
}

/** The immediate checks of the plan (health and MCP), run here, straight at the service. */
function recoveryChecks(plan: Plan, acts: Activities): { name: string; run: () => Promise<string> }[] {
  return plan.steps.flatMap((s) => {
    if (s.id.includes('@')) return [];
    if (s.activity === 'checkHealth')
      return [{ name: 'health', run: async () => (await acts.checkHealth(s.input as HealthInput)).summary }];
    if (s.activity === 'checkMcp') {
      const input = s.input as McpCheckInput;
      return [{ name: `MCP over ${input.transport}`, run: async () => (await acts.checkMcp(input)).summary }];
    }
    return [];
  });
}

/**
 * Is the service failing now? One look at health (and the MCP tools over HTTP); a service that
 * does not answer at all gets `settleMs` to start listening, so a slow start is not taken for
 * a crash (and a crash still shows as one).
 */
async function probeBroken(
  plan: Plan,
  acts: Activities,
  settleMs = 5000,
): Promise<{ broken: boolean; detail: string }> {
  const findings: string[] = [];
  let broken = false;
  for (const step of plan.steps.filter((s) => !s.id.includes('@'))) {
    if (step.activity === 'checkHealth') {
      const deadline = Date.now() + settleMs;
      let r;
      for (;;) {
        r = await timed(() => acts.checkHealth({ ...(step.input as HealthInput), timeoutSeconds: 0 }));
        if (!r.error || !r.error.message.includes('no answer') || Date.now() >= deadline) break;
        await new Promise((res) => setTimeout(res, 250));
      }
      if (r.error) {
        broken = true;
        findings.push(`health: ${r.error.message.replace(/^health check \S+ failed after 0 s: /, '')}`);
      } else findings.push(`health: ${r.value!.summary}`);
    } else if (step.activity === 'checkMcp' && (step.input as McpCheckInput).transport === 'http') {
      const r = await timed(() => acts.checkMcp({ ...(step.input as McpCheckInput), timeoutSeconds: 5 }));
      if (r.error) {
        broken = true;
        findings.push(`MCP: ${r.error.message.split('\n')[0]}`);
      } else findings.push(`MCP: ${r.value!.summary}`);
    }
  }
  return { broken, detail: findings.join('; ') || 'no health or MCP check configured to look with' };
}

export async function runDrill(opts: DrillOptions): Promise<DrillResult> {
  const { client, drill, scenario } = opts;
  const log = opts.log ?? (() => undefined);
  const deps = opts.deps ?? defaultDeps();
  const activities = createActivities(deps);
  const startedAt = new Date();
  const request: RollbackRequest = {
    rollbackId: drillRollbackId(drill.name, startedAt),
    target: drill.name,
    kind: 'emergency',
    reason: `rollback drill: ${scenario}`,
    impact: 'none: a drill on a sandbox',
    requestedBy: opts.requestedBy,
    requestedAt: startedAt.toISOString(),
    webUiBase: webUiBase(client.address),
    // A damaged sandbox may already be on the stable version: the rollback redeploys it anyway.
    force: true,
  };
  // Planned before anything is touched: a plan error leaves the sandbox as it is.
  const plan = planRollback(drill.target, request, drill.config);
  const phases: DrillPhase[] = [];
  const result: DrillResult = {
    target: drill.name,
    scenario,
    rollbackId: request.rollbackId,
    workflowId: null,
    runId: null,
    webUrl: null,
    toVersion: plan.toVersion,
    broken: false,
    recovered: false,
    timeToRestoreMs: null,
    workflowTimeToRestoreMs: null,
    rollbackMs: null,
    rollbackStatus: null,
    rollbackError: null,
    phases,
    checks: [],
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    reportFile: null,
  };

  // A second rollback of the target would be refused by the server, after the damage: look first.
  try {
    const desc = await client.describe(`rollback-${drill.name}`);
    if (desc.status.name === 'RUNNING') {
      throw new ConfigError(
        `a rollback of "${drill.name}" is running (rollback-${drill.name}, run ${desc.runId}); let it finish before drilling`,
      );
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    /* never rolled back: fine */
  }

  log(`baseline: looking at ${drill.name} before the drill`);
  const baseline = await timed(() => probeBroken(plan, activities));
  const baselineHealthy = baseline.value ? !baseline.value.broken : null;
  phases.push({
    phase: 'baseline',
    ms: baseline.ms,
    ok: baselineHealthy === true,
    detail: baseline.value?.detail ?? String(baseline.error?.message),
  });

  const ctx = {
    target: drill.target,
    activities,
    runner: LOCAL_HOST.runner,
    toVersion: plan.toVersion,
    baselineHealthy,
    options: { badVersion: opts.badVersion, entry: opts.entry },
    log,
  };
  const prepared = await timed(() => prepareScenario(scenario, ctx));
  if (prepared.error) throw prepared.error; // nothing broken yet: a plain refusal
  phases.push({ phase: 'prepare', ms: prepared.ms, ok: true, detail: prepared.value! });

  log(`break: ${scenario}`);
  const broke = await timed(() => breakTarget(scenario, ctx));
  phases.push({
    phase: 'break',
    ms: broke.ms,
    ok: !broke.error,
    detail: broke.value ?? `breaking failed: ${broke.error?.message}`,
  });
  const confirm = await timed(() => probeBroken(plan, activities));
  result.broken = confirm.value?.broken ?? false;
  phases.push({
    phase: 'confirm broken',
    ms: confirm.ms,
    ok: result.broken,
    detail: `${result.broken ? 'broken' : 'NOT observably broken'}: ${confirm.value?.detail ?? confirm.error?.message}`,
  });

  // Even if breaking half failed, the sandbox may be damaged: the rollback runs regardless.
  log(`rollback: starting the emergency rollback to ${plan.toVersion}`);
  const rollbackStartedAt = Date.now();
  const rolled = await timed(async () => {
    const started = await client.start(request, plan);
    result.workflowId = started.workflowId;
    result.runId = started.runId;
    result.webUrl = started.webUrl;
    log(`rollback: ${started.workflowId} (run ${started.runId}) ${started.webUrl}`);
    return client.result(started.workflowId, started.runId);
  });
  const outcome = rolled.value;
  const record: RollbackRecord | null = outcome?.record ?? null;
  result.rollbackMs = record?.durationMs ?? rolled.ms;
  result.rollbackStatus = record?.status ?? null;
  result.rollbackError = outcome?.error ?? rolled.error?.message ?? null;
  if (record) result.workflowTimeToRestoreMs = computeTiming(record).timeToRestoreMs ?? null;
  phases.push({
    phase: 'rollback',
    ms: rolled.ms,
    ok: outcome?.ok === true,
    detail: outcome?.ok
      ? `${record?.status ?? 'succeeded'}, ${record?.steps.filter((s) => s.state === 'succeeded').length ?? '?'} steps`
      : `failed: ${result.rollbackError}`,
  });

  log('verify: checking the service from outside the workflow');
  const verifyStart = Date.now();
  for (const check of recoveryChecks(plan, activities)) {
    const r = await timed(check.run);
    result.checks.push({
      check: check.name,
      ok: !r.error,
      detail: r.value ?? r.error!.message.split('\n')[0]!,
    });
  }
  const verifiedAt = Date.now();
  const checksOk = result.checks.length > 0 && result.checks.every((c) => c.ok);
  phases.push({
    phase: 'verify recovery',
    ms: verifiedAt - verifyStart,
    ok: checksOk,
    detail: result.checks.length
      ? result.checks.map((c) => `${c.check} ${c.ok ? 'ok' : 'FAILED'}: ${c.detail}`).join('; ')
      : 'no health or MCP check configured: recovery cannot be confirmed',
  });
  result.recovered = outcome?.ok === true && checksOk;
  result.timeToRestoreMs = result.recovered ? verifiedAt - rollbackStartedAt : null;
  result.finishedAt = new Date().toISOString();

  if (opts.writeReport !== false) {
    const dir = join(drill.target.reportsDir, request.rollbackId);
    mkdirSync(dir, { recursive: true });
    result.reportFile = join(dir, 'drill.md');
    writeFileSync(join(dir, 'drill.json'), JSON.stringify(result, null, 2) + '\n');
    writeFileSync(result.reportFile, formatDrill(result) + '\n');
  }
  return result;
}

function secs(ms: number | null): string {
  return ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`;
}

/** The drill's report: a table of phases and the time to restore. */
export function formatDrill(r: DrillResult): string {
  const rows: [string, string, string][] = r.phases.map((p) => [
    p.phase,
    secs(p.ms),
    `${p.ok ? '✔' : '✘'} ${p.detail}`,
  ]);
  rows.push([
    'time to restore',
    secs(r.timeToRestoreMs),
    r.recovered ? 'from rollback start to verified healthy' : 'not restored',
  ]);
  if (r.recovered && r.workflowTimeToRestoreMs !== null) {
    rows.push([
      '  in the workflow',
      secs(r.workflowTimeToRestoreMs),
      "from the rollback's start to its first passing health check",
    ]);
  }
  const w0 = Math.max(5, ...rows.map((x) => x[0].length));
  const w1 = Math.max(4, ...rows.map((x) => x[1].length));
  return [
    `Drill ${r.scenario} on ${r.target}: ${r.recovered ? 'RECOVERED' : 'NOT RECOVERED'}${r.broken ? '' : ' (the damage was not observable)'}`,
    `  rollback ${r.rollbackId} to ${r.toVersion}${r.workflowId ? `, workflow ${r.workflowId} (run ${r.runId})` : ''}`,
    ...(r.webUrl ? [`  web ui: ${r.webUrl}`] : []),
    '',
    `  ${'phase'.padEnd(w0)}  ${'time'.padStart(w1)}  result`,
    ...rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`),
    ...(r.rollbackError ? ['', `  rollback error: ${r.rollbackError}`] : []),
  ].join('\n');
}
