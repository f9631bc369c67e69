import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  FROM_VERSION,
  findingsOf,
  formatFinding,
  leadingChecks,
  pendingRecord,
  requestedEntry,
  ROLLBACK_REF,
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
import { finalStepsOf, legacyReportsVersion } from './legacy';
import { preflightUpdate } from './messages';
import { notifier, type Notify } from './notify';
import { besideRecord, besideStart, describeError, failureType, StepRunner } from './step-runner';

export interface RollbackInput {
  request: RollbackRequest;
  plan: Plan;
}

/** How a rollback ended; everything after the steps (undos, status, reports, notices) follows from it. */
type Outcome =
  | { type: 'succeeded' }
  | { type: 'refused' }
  | { type: 'rejected'; by?: string; comment?: string }
  | { type: 'cancelled' }
  | { type: 'failed' }
  | { type: 'aborted'; by: string };
type Failed = Exclude<Outcome, { type: 'succeeded' }>;

/**
 * Executes a rollback plan: an approval gate when the plan needs one, each step an activity,
 * an operator decision (or the policy's default) when a step fails for good, the recorded undos in
 * reverse on compensation or cancellation, notifications along the way, and a rollback-log entry
 * whatever the outcome.
 */
export async function rollbackWorkflow({ request, plan }: RollbackInput): Promise<RollbackRecord> {
  const startedMs = Date.now();
  const finalSteps = finalStepsOf(plan);
  const record = newRecord(request, plan, finalSteps, startedMs);
  const gates = new Gates(record, plan);
  gates.listen();
  const runner = new StepRunner(record, (step, result) => {
    reportVersion(plan, step, result.data, record);
    const findings = findingsOf(step.id, result.data);
    if (findings) record.findings = findings;
  });
  const notify = notifier(plan, record);
  const checks = leadingChecks(plan.steps);
  // How the read-only checks ended: passed, refused, or cancelled while they ran.
  let checked: Failed | 'passed' | undefined;
  setHandler(preflightUpdate, async () => {
    await condition(() => checked !== undefined);
    if (checked !== 'passed') throw endFailure(record, checked!);
    const summaries = checks.map(
      (c) => `${c.title}: ${record.steps.find((s) => s.id === c.id)?.summary ?? ''}`,
    );
    return {
      fromVersion: record.fromVersion,
      toVersion: record.toVersion,
      checks: summaries,
      ...(record.findings ? { findings: record.findings } : {}),
    };
  });
  runner.publish();

  let outcome: Outcome;
  try {
    const refused = await runChecks(checks, runner);
    checked = refused ?? 'passed';
    outcome = refused ?? (await runAll(plan, gates, runner, notify));
  } catch (err) {
    if (!isCancellation(err)) throw err;
    outcome = { type: 'cancelled' };
    checked ??= outcome;
    record.awaitingDecision = undefined;
    gates.audit('(operator)', 'cancel', 'accepted', 'workflow cancellation requested');
  }

  // Everything from here must finish even though the workflow may have been cancelled.
  const root = CancellationScope.current();
  await CancellationScope.nonCancellable(() =>
    finish(
      plan,
      finalSteps,
      record,
      runner,
      checked === 'passed' ? notify : undefined,
      outcome,
      startedMs,
      () => {
        if (root.consideredCancelled && outcome.type !== 'cancelled')
          gates.audit(
            '(operator)',
            'cancel',
            'refused',
            'cancellation requested while undoing: the undos ran to the end',
          );
      },
    ),
  );
  if (outcome.type !== 'succeeded') throw endFailure(record, outcome);
  return record;
}

/**
 * The read-only checks at the head of the plan (the deployed version, the version asked for). One
 * that fails refuses the rollback: nothing has been written or announced, so nothing is undone.
 */
async function runChecks(checks: PlanStep[], runner: StepRunner): Promise<Failed | undefined> {
  for (const step of checks) {
    try {
      await runner.runStep(step);
    } catch (err) {
      if (isCancellation(err)) throw err;
      runner.record.failure = {
        stepId: step.id,
        title: step.title,
        message: describeError(err),
        type: failureType(err),
      };
      return { type: 'refused' };
    }
  }
  return undefined;
}

/** The rollback proper: announced, approved when the plan needs it, then the remaining steps. */
async function runAll(plan: Plan, gates: Gates, runner: StepRunner, notify: Notify): Promise<Outcome> {
  await notify('started');
  const rest = plan.steps.slice(leadingChecks(plan.steps).length);
  return (await approval(plan, gates, runner, notify)) ?? (await runSteps(plan, rest, gates, runner, notify));
}

function newRecord(
  request: RollbackRequest,
  plan: Plan,
  finalSteps: PlanStep[],
  startedMs: number,
): RollbackRecord {
  const startedAt = new Date(startedMs).toISOString();
  return {
    ...pendingRecord(request, plan, [...plan.steps, ...finalSteps], startedAt),
    status: plan.approval.required ? 'awaiting-approval' : 'running',
    audit: [requestedEntry(request, startedAt)],
  };
}

/** A step whose result names the version rolled back from or to: the record and search attributes say so. */
function reportVersion(
  plan: Plan,
  step: PlanStep,
  data: Record<string, unknown>,
  record: RollbackRecord,
): void {
  const which = plan.format ? step.reportsVersion : legacyReportsVersion(step);
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
    ...(runner.record.findings ? { findings: runner.record.findings.map(formatFinding) } : {}),
  });
  const decided = await gates.waitForApproval(() => notify('approval-escalated'));
  if (!decided.approved) return { type: 'rejected', by: decided.by, comment: decided.comment };
  runner.record.status = 'running';
  runner.publish();
  await notify('approved', { by: decided.by, comment: decided.comment });
  return undefined;
}

/** The steps in order; a step that fails for good is decided on (by a person or the policy). */
async function runSteps(
  plan: Plan,
  steps: PlanStep[],
  gates: Gates,
  runner: StepRunner,
  notify: Notify,
): Promise<Outcome> {
  // Workflows started before a start's watch ran beside its checks (or the incident log beside the
  // backup) replay them one after another.
  let beside: boolean | undefined;
  let recordBeside: boolean | undefined;
  for (let i = 0; i < steps.length;) {
    if (beside === undefined && besideStart(steps, i) > i + 1) beside = patched('start-beside-checks');
    if (recordBeside === undefined && besideRecord(steps, i) > i + 1)
      recordBeside = patched('incident-beside-backup');
    const ran = await runner.runFrom(steps, i, beside ?? false, recordBeside ?? false);
    if ('next' in ran) {
      i = ran.next;
      continue;
    }
    const { err } = ran;
    i = ran.index;
    const step = steps[i]!;
    const error = describeError(err);
    let decision = plan.onFailure.default;
    let by = 'policy';
    if (plan.onFailure.wait || step.onFailure === 'decide') {
      const waiting = gates.waitForDecision(step.id, step.title, error, plan.onFailure);
      runner.publish();
      await notify('step-failed', { step: { id: step.id, title: step.title, error } });
      ({ decision, by } = await waiting);
    } else {
      runner.record.decisions.push({
        stepId: step.id,
        decision,
        by,
        at: new Date().toISOString(),
        via: 'policy',
        comment: `the plan decides at once (onFailure.wait is false for ${plan.kind} rollbacks)`,
      });
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
  return { type: 'succeeded' };
}

const FINAL_STATUS: Record<Outcome['type'], RollbackStatus> = {
  succeeded: 'succeeded',
  refused: 'refused',
  rejected: 'rejected',
  cancelled: 'cancelled',
  aborted: 'aborted',
  failed: 'compensated', // or 'failed', when an undo failed too
};

/** Undo what a failed or cancelled rollback did, settle its status, write its reports, say how it ended. */
async function finish(
  plan: Plan,
  finalSteps: PlanStep[],
  record: RollbackRecord,
  runner: StepRunner,
  notify: Notify | undefined,
  outcome: Outcome,
  startedMs: number,
  afterUndos: () => void,
): Promise<void> {
  if (outcome.type === 'failed' || outcome.type === 'cancelled') {
    record.status = 'compensating';
    runner.publish();
    await runner.compensate();
  }
  afterUndos();
  const undosOk = record.undos.every((u) => u.state === 'succeeded');
  record.status = outcome.type === 'failed' && !undosOk ? 'failed' : FINAL_STATUS[outcome.type];
  record.finishedAt = new Date().toISOString();
  record.durationMs = Date.now() - startedMs;
  runner.publish();
  // Refused (or cancelled) during its read-only checks, it wrote and announced nothing, and leaves
  // no report either: `notify` is given only once the rollback was announced.
  if (!notify) return;
  runner.results.set(ROLLBACK_REF, { summary: '', attempt: 1, data: { record: clone(record) } });
  for (const step of finalSteps) {
    try {
      await runner.runStep(step);
    } catch {
      // The reports are a record, not part of the rollback: their failure must not change the outcome.
    }
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
    outcome.type === 'refused'
      ? ['RollbackRefused', `Rollback ${id} refused: ${f!.message}; nothing was changed`]
      : outcome.type === 'cancelled'
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
