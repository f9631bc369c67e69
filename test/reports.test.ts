/**
 * Success criteria and reports, from the record of real rollbacks: one with an approval, a
 * retried step, a failed step an operator decided to skip and an error-log window; one that
 * failed and was undone. `rollback report` rebuilds the same reports from Temporal.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { parse, stringify } from 'yaml';
import { buildProgram } from '../src/cli/main';
import type { CliIo } from '../src/cli/report';
import { renderAnalysis } from '../src/reports/analysis';
import { evaluateSuccessCriteria, type CriterionResult } from '../src/reports/criteria';
import { getTarget, loadConfig } from '../src/targets/load';
import type { Plan, RollbackRecord, StepProgress } from '../src/model';
import { isGitTarget, serviceChecks } from '../src/targets/kinds/git';
import { planRollback } from '../src/targets/plan';
import { errorLogSchema } from '../src/targets/validation/schema';
import { errorLogWindowSteps } from '../src/targets/validation/steps';
import type { FailureMode } from './rig/fixture-repo';
import { eventually } from './rig/eventually';
import { requestFor, waitForStatus } from './rig/rollback';
import { ALL_TOOLS } from './rig/releases';
import { type Sandbox } from './rig/sandbox';
import { rollbackSuite } from './rig/suite';
import { readTree } from './rig/read-tree';

const suite = rollbackSuite('reports');

/** Edits the sandbox's rollback.yaml (the schema validates it again when it is loaded). */
function editConfig(sb: Sandbox, edit: (target: Record<string, any>, config: Record<string, any>) => void) {
  const config = parse(readFileSync(sb.configFile, 'utf8')) as Record<string, any>;
  edit(config.targets[sb.target], config);
  writeFileSync(sb.configFile, stringify(config));
}

/** Waits until Temporal has scheduled a second attempt of the activity (the first one failed). */
async function waitForRetry(workflowId: string, activityType: string): Promise<void> {
  await eventually(
    `a second attempt of ${activityType}`,
    async () => {
      const desc = await suite.client.describe(workflowId);
      const pending = desc.raw.pendingActivities?.find((a) => a.activityType?.name === activityType);
      return (pending?.attempt ?? 0) >= 2;
    },
    120_000,
  );
}

/** Runs `rollback report ...` in this process, as main.ts will once it registers the command. */
async function report(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const io = { stdout: '', stderr: '' };
  const sink: CliIo = {
    stdout: (t) => void (io.stdout += t),
    stderr: (t) => void (io.stderr += t),
    setExitCode: () => undefined,
  };
  const program = buildProgram(sink);
  await program.parseAsync(args, { from: 'user' });
  return io;
}

const criterion = (all: CriterionResult[], id: string) => all.find((c) => c.id === id)!;

describe('reports of a rollback that met an approval, a retry, a decision and an error-log window', () => {
  let sb: Sandbox;
  let plan: Plan;
  let record: RollbackRecord;
  let workflowId: string;
  let runId: string;

  beforeAll(async () => {
    // v1.21.0 answers /health 503 "starting" until a file appears: the test creates it once the
    // first health check attempt (1 s deadline) has failed, so Temporal's retry is the one that passes.
    sb = await suite.sandbox({
      name: 'rep-issues',
      extraTags: [{ tag: 'v1.21.0', failureMode: 'warmup' as FailureMode }],
    });
    const readyFile = join(sb.root, 'warmed-up');
    editConfig(sb, (t, c) => {
      c.approvers = ['bob'];
      t.approval = { required: { emergency: true } };
      t.onFailure = { wait: { emergency: true }, timeoutSeconds: 300 };
      t.service.env.WARMUP_UNTIL_FILE = readyFile;
      t.validate.health.timeoutSeconds = 1;
      // No machine meets this budget: the step fails for good and waits for a decision.
      t.validate.latency.maxAverageMs = 0.001;
    });
    const loaded = loadConfig(sb.configFile);
    const target = getTarget(loaded, sb.target);
    if (!isGitTarget(target)) throw new Error('the sandbox is git-deployed');
    const request = requestFor(sb, { toVersion: 'v1.21.0', requestedBy: 'alice' });
    const planned = planRollback(target, request, loaded.config);
    // What the schema fields of issue 4 will produce: probes and the version on the MCP checks,
    // and the error-log window on pm2's logs after the immediate checks.
    for (const step of planned.steps.filter((s) => s.activity === 'checkMcp')) {
      Object.assign(step.input, {
        toolNames: ALL_TOOLS,
        probes: [
          { tool: 'lightdash_get_project', arguments: { projectUuid: 'p-1' }, expect: { keys: ['project'] } },
        ],
        expectedVersion: 'v1.21.0',
      });
    }
    const window = errorLogWindowSteps(
      errorLogSchema.parse({ pm2: true, windowSeconds: 2, patterns: ['\\bERROR\\b'] }),
      serviceChecks(target),
    );
    const at = planned.steps.findIndex((s) => s.id === 'validate-latency') + 1;
    plan = { ...planned, steps: [...planned.steps.slice(0, at), ...window, ...planned.steps.slice(at)] };

    const started = await suite.client.start(request, plan);
    ({ workflowId, runId } = started);
    await waitForStatus(suite.client, workflowId, 'awaiting-approval', 120_000, runId);
    await suite.client.act(workflowId, 'approve', { by: 'bob', comment: 'sandbox rehearsal, go' });
    await waitForRetry(workflowId, 'checkHealth');
    writeFileSync(readyFile, '');
    const waiting = await waitForStatus(suite.client, workflowId, 'awaiting-decision', 120_000, runId);
    expect(waiting.awaitingDecision?.stepId).toBe('validate-latency');
    await suite.client.act(workflowId, 'decide', {
      by: 'bob',
      decision: 'skip',
      comment: 'budget is unreachable on the sandbox',
    });
    const result = await suite.client.result(workflowId, runId);
    expect(result.error).toBeUndefined();
    record = result.record!;
  }, 200_000);

  test('the run really had them: an approval, a health check retried once, a skip decision, a clean window', () => {
    expect(record.status).toBe('succeeded');
    expect(record.approvals).toEqual([expect.objectContaining({ by: 'bob', decision: 'approved' })]);
    expect(record.decisions).toEqual([
      expect.objectContaining({ stepId: 'validate-latency', decision: 'skip', by: 'bob' }),
    ]);
    expect(record.steps.find((s) => s.id === 'validate-health')).toMatchObject({
      state: 'succeeded',
      attempts: 2,
    });
    expect(record.steps.find((s) => s.id === 'validate-latency')).toMatchObject({ state: 'skipped' });
    expect(record.steps.find((s) => s.id === 'validate-mcp-http')!.summary).toBe(
      '13 tools over http, probes ok: lightdash_list_projects, lightdash_get_project, server lightdash-mcp 1.21.0',
    );
    expect(record.steps.find((s) => s.id === 'validate-error-log')).toMatchObject({ state: 'succeeded' });
  });

  test('success criteria, item by item, from the record', () => {
    const criteria = evaluateSuccessCriteria(record);
    expect(criteria.map((c) => [c.id, c.state])).toEqual([
      ['service-started', 'pass'],
      ['health-healthy', 'pass'],
      ['all-tools-work', 'pass'],
      ['both-transports', 'pass'],
      ['latency-in-budget', 'fail'],
      ['no-error-logs', 'pass'],
      ['alerts-cleared', 'not configured'],
    ]);
    expect(criterion(criteria, 'latency-in-budget').detail).toMatch(
      /^Sample latency \(5 requests, average under 0\.001 ms\): skipped by bob after: latency over budget: average/,
    );
    expect(criterion(criteria, 'both-transports').steps).toEqual(['validate-mcp-http', 'validate-mcp-stdio']);
    expect(criterion(criteria, 'health-healthy').detail).toMatch(/^healthy, version 1\.21\.0 after \d+ ms$/);
  });

  test('the incident log: date, reporter, description, impact, affected systems, decision', () => {
    const incident = readFileSync(join(sb.reportsDir, record.rollbackId, 'incident.md'), 'utf8');
    expect(incident).toContain(`- **Date**: ${record.requestedAt}`);
    expect(incident).toContain('- **Reporter**: alice');
    expect(incident).toContain('- **Description**: v1.20.2 is failing health checks');
    expect(incident).toContain('- **Impact**: MCP tools unavailable to analysts');
    expect(incident).toContain(`- **Affected systems**: ${sb.target}, ${sb.deployPath}`);
    expect(incident).toContain('- **Decision**: emergency rollback to v1.21.0');
  });

  test('the rollback-log entry: trigger, time, duration, root cause, resolution, prevention, criteria', () => {
    const log = readFileSync(join(sb.reportsDir, 'rollback-log.md'), 'utf8');
    const entry = log.slice(log.indexOf(`<!-- rollback:${record.rollbackId} -->`));
    expect(entry).toContain(
      `## ${record.requestedAt} — ${sb.target}: emergency rollback v1.20.2 → v1.21.0 (succeeded)`,
    );
    expect(entry).toContain('- **Trigger**: v1.20.2 is failing health checks (requested by alice)');
    expect(entry).toContain(`- **Time**: started ${record.startedAt}, finished ${record.finishedAt}`);
    expect(entry).toMatch(/- \*\*Duration\*\*: [\d.]+ s; service restored after [\d.]+ s/);
    expect(entry).toContain('- **Root cause**: v1.20.2 is failing health checks (release v1.20.2)');
    expect(entry).toContain(`- **Resolution**: ${sb.target} is on v1.21.0, validated`);
    expect(entry).toMatch(/- \*\*Approvals\*\*: approved by bob at \S+/);
    expect(entry).toMatch(/- \*\*Decisions\*\*: skip on validate-latency by bob at \S+/);
    expect(entry).toContain('- **Prevention**: to be filled in at the post-incident review');
    expect(entry).toContain('- **Success criteria**: 5 pass, 1 fail, 1 not configured');
    expect(entry).toContain('  - ✘ fail: Latency within budget — Sample latency');
    expect(entry).toContain('Retried: Check health and version v1.21.0 (2 attempts)');
  });

  test('the analysis: summary, method, time to complete, the retry, the decision, the approval, validation', () => {
    const analysis = readFileSync(join(sb.reportsDir, record.rollbackId, 'analysis.md'), 'utf8');
    for (const section of [
      '## Summary',
      '## Method',
      '## Time to complete',
      '## Issues met',
      '### Retries',
      '### Failures',
      '### Decisions',
      '### Approvals',
      '## Validation results',
      '## Success criteria',
    ]) {
      expect(analysis).toContain(`\n${section}\n`);
    }
    expect(analysis).toMatch(
      new RegExp(
        `The emergency rollback of ${sb.target} from v1\\.20\\.2 to v1\\.21\\.0 succeeded in [\\d.]+ s; service was restored after [\\d.]+ s\\. Success criteria not met: Latency within budget\\.`,
      ),
    );
    expect(analysis).toMatch(
      /\d+\. Install dependencies \(npm ci --offline --no-audit --no-fund\) — succeeded, [\d.]+ s/,
    );
    expect(analysis).toMatch(/\| total \(workflow start to end\) \| [\d.]+ s \|/);
    expect(analysis).toMatch(/\| waiting for approval \| [\d.]+ (s|ms) \|/);
    expect(analysis).toContain('- Check health and version v1.21.0: 2 attempts, succeeded on attempt 2');
    expect(analysis).toMatch(
      /- \S+: bob decided \*\*skip\*\* on "Sample latency \(5 requests, average under 0\.001 ms\)" — budget is unreachable on the sandbox/,
    );
    expect(analysis).toMatch(/- \S+: bob \*\*approved\*\* — sandbox rehearsal, go/);
    expect(analysis).toMatch(
      /- Sample latency .*: latency over budget: average [\d.]+ ms.* \(then skipped by an operator decision\)/,
    );
    expect(analysis).toContain('- Sample latency (5 requests, average under 0.001 ms): 3 attempts, skipped');
    expect(analysis).toContain(
      '| Check for error lines written in the 2 s window | succeeded | 1 | no error lines in the window',
    );
    expect(analysis).toContain('| Latency within budget | ✘ fail |');
    expect(analysis).toContain('| Alerts cleared | – not configured |');
  });

  test('rollback report rebuilds the same reports from the workflow, as markdown and as JSON', async () => {
    const out = join(sb.root, 'rebuilt');
    const md = await report(['report', workflowId, '--format', 'md', '--out', out]);
    expect(md.stderr).toBe(`reports written to ${out}\n`);
    for (const f of ['incident.md', 'rollback-log-entry.md', 'analysis.md', 'timeline.svg', 'record.json']) {
      expect(existsSync(join(out, f))).toBe(true);
    }
    // The timeline the rollback wrote at its end, rebuilt the same: one bar per step that ran.
    const timeline = readFileSync(join(sb.reportsDir, record.rollbackId, 'timeline.svg'), 'utf8');
    expect(readFileSync(join(out, 'timeline.svg'), 'utf8')).toBe(timeline);
    expect(timeline).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const ran = record.steps.filter((s) => s.startedAt && s.id !== 'rollback-log').length;
    expect(timeline.match(/<rect [^>]*rx="2"/g)).toHaveLength(ran);
    const opened = await report(['report', workflowId, '--open']);
    const [svgPath, mdPath] = opened.stdout.trim().split('\n');
    expect(svgPath).toMatch(/timeline\.svg$/);
    expect(readFileSync(svgPath!, 'utf8')).toBe(timeline);
    expect(existsSync(mdPath!)).toBe(true);
    expect(readFileSync(join(out, 'analysis.md'), 'utf8')).toBe(
      readFileSync(join(sb.reportsDir, record.rollbackId, 'analysis.md'), 'utf8'),
    );
    const analysis = readFileSync(join(sb.reportsDir, record.rollbackId, 'analysis.md'), 'utf8');
    const incident = readFileSync(join(sb.reportsDir, record.rollbackId, 'incident.md'), 'utf8');
    expect(md.stdout).toContain(incident.trimEnd());
    expect(md.stdout).toContain(analysis.trimEnd());
    expect(md.stdout).toContain('- **Success criteria**: 5 pass, 1 fail, 1 not configured');

    // By rollback id too, and as JSON: the same analysis the rollback wrote at its end.
    const json = JSON.parse((await report(['report', record.rollbackId, '--json'])).stdout) as {
      workflowId: string;
      runId: string;
      criteria: CriterionResult[];
      analysis: { issues: { retries: unknown[]; decisions: unknown[]; approvals: unknown[] } };
      markdown: { analysis: string; incident: string };
    };
    expect(json.workflowId).toBe(workflowId);
    expect(json.runId).toBe(runId);
    expect(json.markdown.analysis).toBe(analysis);
    expect(json.markdown.incident).toBe(incident);
    expect(json.criteria).toEqual(evaluateSuccessCriteria(record));
    expect(json.analysis.issues.retries).toEqual([
      { id: 'validate-health', title: 'Check health and version v1.21.0', attempts: 2, state: 'succeeded' },
      {
        id: 'validate-latency',
        title: 'Sample latency (5 requests, average under 0.001 ms)',
        attempts: 3,
        state: 'skipped',
      },
    ]);
    expect(json.analysis.issues.decisions).toHaveLength(1);
    expect(json.analysis.issues.approvals).toHaveLength(1);
  });

  test('no report and no workflow history holds the secret from the .env', async () => {
    for (const text of readTree(sb.reportsDir)) expect(text).not.toContain(sb.secret);
    const history = await suite.client.client.workflow.getHandle(workflowId, runId).fetchHistory();
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    expect(bytes.includes(Buffer.from(sb.secret))).toBe(false);
  });
});

describe('reports of a rollback that failed and was undone', () => {
  test('the analysis lists the failure and each undo; the criteria say what never ran', async () => {
    // A release that crashes at start: the start step fails after its retries, after the checkout,
    // so there is real work to undo.
    const sb = await suite.sandbox({
      name: 'rep-failed',
      extraTags: [{ tag: 'v1.21.0', failureMode: 'crash' }],
      // Room for the crash to show within the start's grace on a loaded machine (as in compensation).
      configure: (t) => {
        t.service.startGraceSeconds = 5;
      },
    });
    const loaded = loadConfig(sb.configFile);
    const request = requestFor(sb, { toVersion: 'v1.21.0' });
    const started = await suite.client.start(
      request,
      planRollback(getTarget(loaded, sb.target), request, loaded.config),
    );
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(false);
    const record = result.record!;
    expect(record.status).toBe('compensated');
    expect(record.failure).toMatchObject({ stepId: 'start' });
    expect(record.steps.find((s) => s.id === 'start')).toMatchObject({ state: 'failed' });

    const criteria = evaluateSuccessCriteria(record);
    expect(criterion(criteria, 'service-started').state).toBe('fail');
    expect(criterion(criteria, 'service-started').detail).toContain('did not stay up');
    expect(criterion(criteria, 'health-healthy').state).toBe('fail');

    const analysis = readFileSync(join(sb.reportsDir, request.rollbackId, 'analysis.md'), 'utf8');
    expect(analysis).toContain(
      `The emergency rollback of ${sb.target} from v1.20.2 to v1.21.0 ended compensated at "Start pm2 process lightdash-${sb.target}": pm2 process lightdash-${sb.target} did not stay up`,
    );
    expect(analysis).toContain(
      `- Start pm2 process lightdash-${sb.target}: pm2 process lightdash-${sb.target} did not stay up`,
    );
    expect(analysis).toContain('Undone, newest first:');
    // The timeline shows the undos, timed, in their own colour.
    const timeline = readFileSync(join(sb.reportsDir, request.rollbackId, 'timeline.svg'), 'utf8');
    expect(timeline).toContain('undo checkout: checkoutRef');
    expect(timeline.match(/fill="#ef6c00"><title>undo /g)?.length).toBe(record.undos.length);
    expect(analysis).toMatch(
      /- checkoutRef \(undo of Check out v1\.21\.0\): succeeded — checked out [0-9a-f]{40}/,
    );
    expect(analysis).toMatch(
      new RegExp(`- startService \\(undo of Stop pm2 process lightdash-${sb.target}\\): succeeded`),
    );
    expect(analysis).toContain('| time to restore service | not restored |');

    // rollback report reads a failed run from its failure details.
    const json = JSON.parse((await report(['report', started.workflowId, '--format', 'json'])).stdout) as {
      workflowStatus: string;
      markdown: { analysis: string };
    };
    expect(json.workflowStatus).toBe('FAILED');
    expect(json.markdown.analysis).toBe(analysis);
  });

  test('rollback report names an unknown id and what to give instead', async () => {
    await expect(report(['report', 'rollback-no-such-target'])).rejects.toThrow(
      /^no rollback with id rollback-no-such-target: .*; give a workflow id \(rollback-TARGET\[@RUN_ID\]\) or a rollback id/,
    );
    await expect(report(['report', 'x', '--format', 'pdf'])).rejects.toThrow(
      'unknown report format "pdf"; use md or json',
    );
  });
});

describe('success criteria from records (pure)', () => {
  const step = (
    id: string,
    activity: string,
    state: StepProgress['state'],
    extra: Partial<StepProgress> = {},
  ): StepProgress => ({
    id,
    title: id,
    activity,
    state,
    attempts: 1,
    ...extra,
  });
  const base: RollbackRecord = {
    rollbackId: 'r1',
    target: 't',
    kind: 'emergency',
    toVersion: 'v1',
    reason: 'r',
    requestedBy: 'a',
    requestedAt: '2026-01-01T00:00:00.000Z',
    status: 'succeeded',
    startedAt: '2026-01-01T00:00:01.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    steps: [],
    undos: [],
    approvals: [],
    decisions: [],
    audit: [],
  };

  test('a target with nothing configured: every check is "not configured", never a pass', () => {
    const c = evaluateSuccessCriteria({
      ...base,
      steps: [step('start', 'startService', 'succeeded', { summary: 'started' })],
    });
    expect(c.map((x) => x.state)).toEqual([
      'pass',
      'not configured',
      'not configured',
      'not configured',
      'not configured',
      'not configured',
      'not configured',
    ]);
    expect(criterion(c, 'health-healthy').detail).toBe('add validate.health to the target');
  });

  test('a later validation phase that fails fails the criterion; one transport only is not "both"', () => {
    const c = evaluateSuccessCriteria({
      ...base,
      steps: [
        step('validate-health', 'checkHealth', 'succeeded', { summary: 'healthy' }),
        step('validate-mcp-http', 'checkMcp', 'succeeded', { summary: '13 tools' }),
        step('validate-health@short-term', 'checkHealth', 'failed', { lastError: 'HTTP 503' }),
        step('validate-mcp-http@short-term', 'checkMcp', 'succeeded'),
      ],
    });
    expect(criterion(c, 'health-healthy')).toMatchObject({
      state: 'fail',
      detail: 'validate-health@short-term: HTTP 503',
    });
    expect(criterion(c, 'both-transports')).toMatchObject({
      state: 'not configured',
      detail: 'only HTTP is checked; add validate.mcpStdio to check both',
    });
  });

  test('a service started and then stopped by compensation did not stay started; ECS steps count', () => {
    const c = evaluateSuccessCriteria({
      ...base,
      status: 'compensated',
      steps: [
        step('start', 'startService', 'succeeded'),
        step('validate-alarms', 'checkCloudWatchAlarms', 'failed', { lastError: 'alarm high-5xx is ALARM' }),
      ],
      undos: [{ stepId: 'start', activity: 'stopService', state: 'succeeded' }],
    });
    expect(criterion(c, 'service-started').detail).toBe(
      'start: started, then stopped again when the rollback was undone',
    );
    expect(criterion(c, 'alerts-cleared')).toMatchObject({
      state: 'fail',
      detail: 'validate-alarms: alarm high-5xx is ALARM',
    });
  });

  test('a record without approvals and decisions (an older workflow) still renders', () => {
    const old = { ...base, steps: [step('start', 'startService', 'succeeded')] } as Partial<RollbackRecord>;
    delete old.approvals;
    delete old.decisions;
    const md = renderAnalysis(old as RollbackRecord);
    expect(md).toContain('- none: no step waited for an operator decision');
    expect(md).toContain('- none: this rollback needed no approval');
  });
});
