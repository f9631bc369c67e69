import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  FROM_VERSION,
  PLAN_FORMAT,
  TO_VERSION,
  type FailureType,
  type Plan,
  type PlanStep,
  type RollbackEventType,
  type RollbackRecord,
  type RollbackRequest,
  type RollbackStatus,
} from '../model';
import { Gates } from './gates';
import { legacyReportsVersion } from './legacy';
import { notifier, type Notify } from './notify';
import { describeError, failureType, StepRunner } from './step-runner';

export interface RollbackInput {
  request: RollbackRequest;
  plan: Plan;
}

/** How a rollback ended; everything after the steps (undos, status, reports, notices) follows from it. */
type Outcome =
  | { type: 'succeeded' }
  | { type: 'rejected'; by?: string; comment?: string }
  | { type: 'cancelled' }
  | { type: 'failed' }
  | { type: 'aborted'; by: string };

/** The step that writes the reports: the last of every rollback, whatever the outcome. */
function logStep(reportsDir: string, record: RollbackRecord): PlanStep {
  return {
    id: 'rollback-log',
    title: 'Write the rollback-log entry',
    role: 'record',
    activity: 'appendRollbackLog',
    retry: 'record',
    input: { reportsDir, record },
    undo: [],
  };
}

/**
 * Executes a rollback plan: an approval gate when the plan needs one, each step an activity,
 * an operator decision (or the policy's default) when a step fails for good, the recorded undos in
 * reverse on compensation or cancellation, notifications along the way, and a rollback-log entry
 * whatever the outcome.
 */
export async function rollbackWorkflow({ request, plan }: RollbackInput): Promise<RollbackRecord> {
  const startedMs = Date.now();
  const record = newRecord(request, plan, startedMs);
  const gates = new Gates(record, plan);
  gates.listen();
  const runner = new StepRunner(record, (step, result) => reportVersion(plan, step, result.data, record));
  const notify = notifier(plan, record);
  runner.publish();

  let outcome: Outcome;
  try {
    await notify('started');
    outcome = (await approval(plan, gates, runner, notify)) ?? (await runSteps(plan, gates, runner, notify));
  } catch (err) {
    if (!isCancellation(err)) throw err;
    outcome = { type: 'cancelled' };
    record.awaitingDecision = undefined;
    gates.audit('(operator)', 'cancel', 'accepted', 'workflow cancellation requested');
  }

  // Everything from here must finish even though the workflow may have been cancelled.
  await CancellationScope.nonCancellable(() => finish(plan, record, runner, notify, outcome, startedMs));
  if (outcome.type !== 'succeeded') throw endFailure(record, outcome);
  return record;
}

function newRecord(request: RollbackRequest, plan: Plan, startedMs: number): RollbackRecord {
  return {
    rollbackId: plan.rollbackId,
    target: plan.target,
    kind: plan.kind,
    toVersion: plan.toVersion,
    reason: request.reason,
    impact: request.impact,
    requestedBy: request.requestedBy,
    requestedAt: request.requestedAt,
    status: plan.approval.required ? 'awaiting-approval' : 'running',
    startedAt: new Date(startedMs).toISOString(),
    steps: [...plan.steps, logStep(plan.reportsDir, {} as RollbackRecord)].map((s) => ({
      id: s.id,
      title: s.title,
      activity: s.activity,
      role: s.role,
      state: 'pending',
      attempts: 0,
    })),
    undos: [],
    approvals: [],
    decisions: [],
    audit: [
      {
        at: new Date(startedMs).toISOString(),
        by: request.requestedBy,
        action: 'requested',
        outcome: 'accepted',
        detail: request.reason,
      },
    ],
  };
}

/** A step whose result names the version rolled back from or to: the record and search attributes say so. */
function reportVersion(
  plan: Plan,
  step: PlanStep,
  data: Record<string, unknown>,
  record: RollbackRecord,
): void {
  const which = plan.format === PLAN_FORMAT ? step.reportsVersion : legacyReportsVersion(step);
  if (!which || typeof data.version !== 'string') return;
  if (which === 'from') {
    record.fromVersion = data.version;
    upsertSearchAttributes([{ key: FROM_VERSION, value: data.version }]);
  } else {
    // Some plans learn where they go at run time (the previous ACTIVE revision, a new variant).
    record.toVersion = data.version;
    upsertSearchAttributes([{ key: TO_VERSION, value: data.version }]);
  }
}

/** The approval gate, when the plan needs one; a rejection (or a timeout's default) is an outcome. */
async function approval(
  plan: Plan,
  gates: Gates,
  runner: StepRunner,
  notify: Notify,
): Promise<Outcome | undefined> {
  if (!plan.approval.required) return undefined;
  await notify('awaiting-approval', {
    plan: plan.steps.map((s) => s.title),
    approvers: plan.approval.approvers,
  });
  const decided = await gates.waitForApproval(() => notify('approval-escalated'));
  if (!decided.approved) return { type: 'rejected', by: decided.by, comment: decided.comment };
  runner.record.status = 'running';
  runner.publish();
  await notify('approved', { by: decided.by, comment: decided.comment });
  return undefined;
}

/** The steps in order; a step that fails for good is decided on (by a person or the policy). */
async function runSteps(plan: Plan, gates: Gates, runner: StepRunner, notify: Notify): Promise<Outcome> {
  for (let i = 0; i < plan.steps.length;) {
    const step = plan.steps[i]!;
    try {
      await runner.runStep(step);
      i++;
      continue;
    } catch (err) {
      if (isCancellation(err)) throw err;
      const error = describeError(err);
      let decision = plan.onFailure.default;
      let by = 'policy';
      if (plan.onFailure.wait || step.onFailure === 'decide') {
        const waiting = gates.waitForDecision(step.id, step.title, error, plan.onFailure);
        runner.publish();
        await notify('step-failed', { step: { id: step.id, title: step.title, error } });
        ({ decision, by } = await waiting);
      }
      if (decision === 'retry') continue;
      if (decision === 'skip') {
        runner.markSkipped(step.id, `skipped by ${by} after: ${error}`);
        i++;
        continue;
      }
      runner.record.failure = { stepId: step.id, title: step.title, message: error, type: failureType(err) };
      return decision === 'abort' ? { type: 'aborted', by } : { type: 'failed' };
    }
  }
  return { type: 'succeeded' };
}

const FINAL_STATUS: Record<Outcome['type'], RollbackStatus> = {
  succeeded: 'succeeded',
  rejected: 'rejected',
  cancelled: 'cancelled',
  aborted: 'aborted',
  failed: 'compensated', // or 'failed', when an undo failed too
};

/** Undo what a failed or cancelled rollback did, settle its status, write its reports, say how it ended. */
async function finish(
  plan: Plan,
  record: RollbackRecord,
  runner: StepRunner,
  notify: Notify,
  outcome: Outcome,
  startedMs: number,
): Promise<void> {
  if (outcome.type === 'failed' || outcome.type === 'cancelled') {
    record.status = 'compensating';
    runner.publish();
    await runner.compensate();
  }
  const undosOk = record.undos.every((u) => u.state === 'succeeded');
  record.status = outcome.type === 'failed' && !undosOk ? 'failed' : FINAL_STATUS[outcome.type];
  record.finishedAt = new Date().toISOString();
  record.durationMs = Date.now() - startedMs;
  runner.publish();
  try {
    await runner.runStep(logStep(plan.reportsDir, clone(record)));
  } catch {
    // The log is a record, not part of the rollback: its failure must not change the outcome.
  }
  const step = record.failure
    ? { id: record.failure.stepId, title: record.failure.title, error: record.failure.message }
    : undefined;
  const by = outcome.type === 'rejected' || outcome.type === 'aborted' ? outcome.by : undefined;
  const comment = outcome.type === 'rejected' ? outcome.comment : undefined;
  await notify(record.status as RollbackEventType, { step, by, comment });
}

/** The workflow's failure for every outcome but success; the record travels in its details. */
function endFailure(
  record: RollbackRecord,
  outcome: Exclude<Outcome, { type: 'succeeded' }>,
): ApplicationFailure {
  const id = workflowInfo().workflowId;
  const f = record.failure;
  const [type, message]: [FailureType, string] =
    outcome.type === 'cancelled'
      ? ['RollbackCancelled', `Rollback ${id} was cancelled; ${undoSummary(record)}`]
      : outcome.type === 'rejected'
        ? [
            'RollbackRejected',
            `Rollback ${id} was rejected by ${outcome.by}${outcome.comment ? `: ${outcome.comment}` : ''}; nothing was changed`,
          ]
        : outcome.type === 'aborted'
          ? [
              'RollbackAborted',
              `Rollback ${id} aborted by ${outcome.by} at step "${f!.title}" (${f!.message}); left as it is, nothing undone`,
            ]
          : [
              'RollbackFailed',
              `Rollback ${id} failed at step "${f!.title}": ${f!.message}; ${undoSummary(record)}`,
            ];
  return ApplicationFailure.create({ message, type, nonRetryable: true, details: [record] });
}

function undoSummary(record: RollbackRecord): string {
  if (record.undos.length === 0) return 'nothing to undo';
  const ok = record.undos.filter((u) => u.state === 'succeeded').length;
  const failed = record.undos.filter((u) => u.state === 'failed');
  return `undid ${ok} of ${record.undos.length} undo steps${
    failed.length ? ` (failed: ${failed.map((u) => `${u.activity}: ${u.error}`).join('; ')})` : ''
  }`;
}

function clone(record: RollbackRecord): RollbackRecord {
  return JSON.parse(JSON.stringify(record)) as RollbackRecord;
}
