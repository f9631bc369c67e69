import { findingLines } from './incident';
import type { ActivityName } from '../activities';
import {
  CRITERION_MARK,
  evaluateSuccessCriteria,
  isServiceStart,
  summarizeCriteria,
  type CriterionResult,
} from './criteria';
import { cell, md } from './markdown';

import {
  approvalsOf,
  decisionsOf,
  formatDuration,
  isFinished,
  msBetween,
  reportedSteps,
  roleOf,
  type ApprovalLike,
  type DecisionLike,
  type ReportRecord,
} from './record';

/** ` (from slack, signed by SHA256:…)`: where the action came from and the key that signed it. */
const signed = (a: { signedBy?: string; channel?: string }) => {
  const parts = [
    a.channel ? `from ${md(a.channel)}` : '',
    a.signedBy ? `signed by ${md(a.signedBy)}` : '',
  ].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
};

/**
 * The post-rollback analysis: what happened, how, how long it took, what got in the way, and
 * whether the result meets the runbook's success criteria. Built only from the workflow's record,
 * so the file written at the end of the rollback and `rollback report` agree.
 */

/** Checks whose pass means the service answers healthy (ECS: the load balancer's view). */
const HEALTH_ACTIVITIES: ActivityName[] = ['checkHealth', 'checkTargetGroupHealth'];
const isHealthCheck = (s: { activity: string }) => (HEALTH_ACTIVITIES as string[]).includes(s.activity);

export interface Timing {
  /** The whole rollback, from the workflow's start to its end. */
  totalMs?: number;
  /** From the request (client clock) to the workflow's start. */
  requestToStartMs?: number;
  /** From the workflow's start to the last approval that let it run. */
  awaitingApprovalMs?: number;
  /** When the service was back: the first passing health check after the start, else the start. */
  restoredAt?: string;
  /** From the workflow's start to `restoredAt`: the time to restore service. */
  timeToRestoreMs?: number;
  slowest: { id: string; title: string; durationMs: number }[];
}

export interface Analysis {
  rollbackId: string;
  target: string;
  kind: string;
  status: string;
  fromVersion: string | null;
  toVersion: string;
  requestedBy: string;
  requestedAt: string;
  reason: string;
  impact: string | null;
  finished: boolean;
  summary: string;
  method: {
    kind: string;
    steps: {
      id: string;
      title: string;
      activity: string;
      state: string;
      attempts: number;
      durationMs?: number;
    }[];
  };
  timing: Timing;
  issues: {
    retries: { id: string; title: string; attempts: number; state: string }[];
    failures: { id: string; title: string; error: string; outcome: 'failed' | 'skipped' }[];
    undos: { stepId: string; activity: string; state: string; detail?: string }[];
    decisions: DecisionLike[];
    approvals: ApprovalLike[];
  };
  validation: {
    id: string;
    title: string;
    activity: string;
    state: string;
    attempts: number;
    result: string;
  }[];
  criteria: CriterionResult[];
}

export function computeTiming(record: ReportRecord): Timing {
  const steps = reportedSteps(record);
  const startIdx = steps.findIndex((s) => isServiceStart(s) && s.state === 'succeeded');
  let restoredAt: string | undefined;
  if (startIdx >= 0) {
    const health = steps
      .slice(startIdx + 1)
      .find((s) => isHealthCheck(s) && s.state === 'succeeded' && s.finishedAt);
    restoredAt = health?.finishedAt ?? steps[startIdx]!.finishedAt;
  }
  // A service started and then undone was not restored.
  const undoneStart =
    startIdx >= 0 && record.undos.some((u) => u.stepId === steps[startIdx]!.id && u.state === 'succeeded');
  if (undoneStart) restoredAt = undefined;
  const approved = approvalsOf(record).filter((a) => a.decision === 'approved');
  const lastApproval = approved.length ? approved[approved.length - 1]!.at : undefined;
  return {
    totalMs: record.durationMs,
    requestToStartMs: msBetween(record.requestedAt, record.startedAt),
    awaitingApprovalMs: msBetween(record.startedAt, lastApproval),
    restoredAt,
    timeToRestoreMs: msBetween(record.startedAt, restoredAt),
    slowest: steps
      .filter((s) => s.durationMs !== undefined)
      .sort((a, b) => b.durationMs! - a.durationMs!)
      .slice(0, 3)
      .map((s) => ({ id: s.id, title: s.title, durationMs: s.durationMs! })),
  };
}

function summaryLine(record: ReportRecord, timing: Timing, criteria: CriterionResult[]): string {
  const what = `${record.kind} rollback of ${record.target} from ${record.fromVersion ?? 'an unknown version'} to ${record.toVersion}`;
  const failedCriteria = criteria.filter((c) => c.state === 'fail');
  if (!isFinished(record)) return `The ${what} is still in progress (${record.status}).`;
  if (record.status === 'succeeded') {
    return (
      `The ${what} succeeded in ${formatDuration(record.durationMs)}` +
      `${timing.timeToRestoreMs !== undefined ? `; service was restored after ${formatDuration(timing.timeToRestoreMs)}` : ''}. ` +
      (failedCriteria.length
        ? `Success criteria not met: ${failedCriteria.map((c) => c.label).join(', ')}.`
        : `Every configured success criterion passed (${summarizeCriteria(criteria)}).`)
    );
  }
  const where = record.failure ? ` at "${record.failure.title}": ${record.failure.message}` : '';
  const undos = record.undos.length
    ? ` ${record.undos.filter((u) => u.state === 'succeeded').length} of ${record.undos.length} undo steps succeeded.`
    : '';
  return `The ${what} ended ${record.status}${where}.${undos}`;
}

export function buildAnalysis(record: ReportRecord): Analysis {
  const steps = reportedSteps(record);
  const timing = computeTiming(record);
  const criteria = evaluateSuccessCriteria(record);
  return {
    rollbackId: record.rollbackId,
    target: record.target,
    kind: record.kind,
    status: record.status,
    fromVersion: record.fromVersion ?? null,
    toVersion: record.toVersion,
    requestedBy: record.requestedBy,
    requestedAt: record.requestedAt,
    reason: record.reason,
    impact: record.impact ?? null,
    finished: isFinished(record),
    summary: summaryLine(record, timing, criteria),
    method: {
      kind: record.kind,
      steps: steps.map((s) => ({
        id: s.id,
        title: s.title,
        activity: s.activity,
        state: s.state,
        attempts: s.attempts,
        durationMs: s.durationMs,
      })),
    },
    timing,
    issues: {
      retries: steps
        .filter((s) => s.attempts > 1)
        .map((s) => ({ id: s.id, title: s.title, attempts: s.attempts, state: s.state })),
      // A skipped step failed first: an operator chose to go on without it.
      failures: steps
        .filter((s) => s.state === 'failed' || s.state === 'skipped')
        .map((s) => ({
          id: s.id,
          title: s.title,
          error: s.lastError ?? 'unknown error',
          outcome: s.state === 'skipped' ? ('skipped' as const) : ('failed' as const),
        })),
      undos: record.undos.map((u) => ({
        stepId: u.stepId,
        activity: u.activity,
        state: u.state,
        detail: u.error ?? u.summary,
      })),
      decisions: decisionsOf(record),
      approvals: approvalsOf(record),
    },
    validation: steps
      .filter((s) => roleOf(s) === 'validate')
      .map((s) => ({
        id: s.id,
        title: s.title,
        activity: s.activity,
        state: s.state,
        attempts: s.attempts,
        result: (s.state === 'failed' ? s.lastError : s.summary) ?? '',
      })),
    criteria,
  };
}

const KIND_METHOD: Record<string, string> = {
  emergency: 'Emergency rollback: back to the known-good release at once, no approval gate by default.',
  complete: 'Complete rollback: revert the offending commits on the branch and redeploy its head.',
  partial: 'Partial rollback: turn features off by flag, keeping the deployed release.',
};

function kindMethod(kind: string): string {
  return Object.hasOwn(KIND_METHOD, kind) ? KIND_METHOD[kind]! : `${md(kind)} rollback.`;
}

function stepTitle(record: ReportRecord, stepId: string): string {
  return record.steps.find((s) => s.id === stepId)?.title ?? stepId;
}

/** The analysis as Markdown. Every value from the record is escaped (`md`): it is data, never layout. */
export function renderAnalysis(record: ReportRecord): string {
  const a = buildAnalysis(record);
  const t = a.timing;
  const lines: string[] = [
    `# Post-rollback analysis: ${md(a.target)} ${md(a.fromVersion ?? '?')} → ${md(a.toVersion)}`,
    '',
    `Rollback ${md(a.rollbackId)}, ${md(a.status)}${a.finished ? '' : ' (in progress)'}.`,
    '',
    '## Summary',
    '',
    md(a.summary),
    '',
    `- **Trigger**: ${md(a.reason)} (requested by ${md(a.requestedBy)} at ${md(a.requestedAt)})`,
    `- **Impact**: ${md(a.impact ?? 'not stated')}`,
    '',
    '## Method',
    '',
    kindMethod(a.kind),
    `Run by rollback-orchestrator as a Temporal workflow: each step an activity, retried on transient faults, with the completed steps undone in reverse if the rollback could not finish.`,
    '',
    ...a.method.steps.map(
      (s, i) =>
        `${i + 1}. ${md(s.title)} — ${md(s.state)}${s.attempts > 1 ? `, ${md(s.attempts)} attempts` : ''}${s.durationMs !== undefined ? `, ${formatDuration(s.durationMs)}` : ''}`,
    ),
    // What was known before anything changed: the same list the approvers saw.
    ...(Array.isArray(record.findings) ? findingLines(record.findings) : []),
    '',
    '## Time to complete',
    '',
    '| measure | time |',
    '| --- | --- |',
    `| total (workflow start to end) | ${formatDuration(t.totalMs)} |`,
    `| time to restore service${t.restoredAt ? ` (at ${cell(t.restoredAt)})` : ''} | ${t.timeToRestoreMs !== undefined ? formatDuration(t.timeToRestoreMs) : 'not restored'} |`,
    `| request to start | ${formatDuration(t.requestToStartMs)} |`,
    ...(t.awaitingApprovalMs !== undefined
      ? [`| waiting for approval | ${formatDuration(t.awaitingApprovalMs)} |`]
      : []),
    '',
    t.slowest.length
      ? `Slowest steps: ${t.slowest.map((s) => `${md(s.title)} (${formatDuration(s.durationMs)})`).join(', ')}.`
      : 'No step has finished.',
    '',
    '## Issues met',
    '',
    '### Retries',
    '',
    ...(a.issues.retries.length
      ? a.issues.retries.map(
          (r) =>
            `- ${md(r.title)}: ${md(r.attempts)} attempts, ${r.state === 'succeeded' ? `succeeded on attempt ${md(r.attempts)}` : md(r.state)}`,
        )
      : ['- none: every step that ran took one attempt']),
    '',
    '### Failures',
    '',
    ...(a.issues.failures.length
      ? a.issues.failures.map(
          (f) =>
            `- ${md(f.title)}: ${md(f.error)}${f.outcome === 'skipped' ? ' (then skipped by an operator decision)' : ''}`,
        )
      : ['- none']),
    ...(a.issues.undos.length
      ? [
          '',
          'Undone, newest first:',
          '',
          ...a.issues.undos.map(
            (u) =>
              `- ${md(u.activity)} (undo of ${md(stepTitle(record, u.stepId))}): ${md(u.state)}${u.detail ? ` — ${md(u.detail)}` : ''}`,
          ),
        ]
      : []),
    '',
    '### Decisions',
    '',
    ...(a.issues.decisions.length
      ? a.issues.decisions.map(
          (d) =>
            `- ${md(d.at)}: ${md(d.by)} decided **${md(d.decision)}** on "${md(stepTitle(record, d.stepId))}"${d.via === 'timeout' ? ' (the default, nobody decided in time)' : ''}${signed(d)}${d.comment ? ` — ${md(d.comment)}` : ''}`,
        )
      : ['- none: no step waited for an operator decision']),
    '',
    '### Approvals',
    '',
    ...(a.issues.approvals.length
      ? a.issues.approvals.map(
          (p) =>
            `- ${md(p.at)}: ${md(p.by)} **${md(p.decision)}**${p.via === 'timeout' ? ' (the configured default on timeout)' : ''}${signed(p)}${p.comment ? ` — ${md(p.comment)}` : ''}`,
        )
      : ['- none: this rollback needed no approval']),
    '',
    '## Validation results',
    '',
    ...(a.validation.length
      ? [
          '| check | state | attempts | result |',
          '| --- | --- | --- | --- |',
          ...a.validation.map(
            (v) => `| ${cell(v.title)} | ${cell(v.state)} | ${cell(v.attempts)} | ${cell(v.result)} |`,
          ),
        ]
      : ['No validation is configured for this target.']),
    '',
    '## Success criteria',
    '',
    `${summarizeCriteria(a.criteria)}.`,
    '',
    '| criterion | result | detail |',
    '| --- | --- | --- |',
    ...a.criteria.map((c) => `| ${c.label} | ${CRITERION_MARK[c.state]} | ${cell(c.detail)} |`),
    '',
    '## Follow-up',
    '',
    `- **Root cause**: to be confirmed at the post-incident review (reported: ${md(a.reason)})`,
    '- **Prevention**: to be filled in at the post-incident review',
    ...a.criteria
      .filter((c) => c.state === 'fail')
      .map((c) => `- Investigate the failed criterion "${c.label}": ${md(c.detail)}`),
    '',
  ];
  return lines.join('\n');
}
