import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  isCancellation,
  ParentClosePolicy,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Plan, PlanStep, RollbackRequest } from '../targets/plan';
import type { RollbackEvent, RollbackEventType } from './events';
import { Gates } from './gates';
import {
  approveSignal,
  approveUpdate,
  auditQuery,
  decideSignal,
  decideUpdate,
  progressQuery,
  rejectSignal,
  rejectUpdate,
} from './messages';
import { notifyWorkflow } from './notify';
import { FROM_VERSION, TO_VERSION } from './search-attributes';
import { describeError, StepRunner } from './step-runner';
import type { RollbackRecord } from './types';

const LOG_STEP: PlanStep = {
  id: 'rollback-log',
  title: 'Write the rollback-log entry',
  activity: 'appendRollbackLog',
  retry: 'record',
  input: {},
  undo: [],
};

export interface RollbackInput {
  request: RollbackRequest;
  plan: Plan;
}

/**
 * Executes a rollback plan: an approval gate when the plan needs one, each step an activity,
 * an operator decision (or the policy's default) when a step fails for good, the recorded undos in
 * reverse on compensation or cancellation, notifications along the way, and a rollback-log entry
 * whatever the outcome.
 */
export async function rollbackWorkflow({ request, plan }: RollbackInput): Promise<RollbackRecord> {
  const startedMs = Date.now();
  const record: RollbackRecord = {
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
    steps: [...plan.steps, LOG_STEP].map((s) => ({
      id: s.id,
      title: s.title,
      activity: s.activity,
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
  const gates = new Gates(record, plan);
  setHandler(progressQuery, () => record);
  setHandler(auditQuery, () => record.audit);
  setHandler(approveUpdate, (i) => gates.approve(i, 'update'), {
    validator: (i) => refuse(gates.approvalProblem(i, 'approve')),
  });
  setHandler(rejectUpdate, (i) => gates.reject(i, 'update'), {
    validator: (i) => refuse(gates.approvalProblem(i, 'reject')),
  });
  setHandler(decideUpdate, (i) => gates.decide(i, 'update'), {
    validator: (i) => refuse(gates.decisionProblem(i)),
  });
  setHandler(approveSignal, (i) => {
    const problem = gates.approvalProblem(i, 'approve');
    if (problem) gates.refuseSignal(i?.by, 'approve', problem);
    else gates.approve(i, 'signal');
  });
  setHandler(rejectSignal, (i) => {
    const problem = gates.approvalProblem(i, 'reject');
    if (problem) gates.refuseSignal(i?.by, 'reject', problem);
    else gates.reject(i, 'signal');
  });
  setHandler(decideSignal, (i) => {
    const problem = gates.decisionProblem(i);
    if (problem) gates.refuseSignal(i?.by, 'decide', problem);
    else gates.decide(i, 'signal');
  });

  const runner = new StepRunner(record, (step, result) => {
    if (step.id === 'inspect' && typeof result.data.version === 'string') {
      record.fromVersion = result.data.version;
      upsertSearchAttributes([{ key: FROM_VERSION, value: result.data.version }]);
    }
    // ECS plans learn the revision they go to at run time (the previous ACTIVE one, or a new variant).
    if ((step.id === 'resolve' || step.id === 'register') && typeof result.data.version === 'string') {
      record.toVersion = result.data.version;
      upsertSearchAttributes([{ key: TO_VERSION, value: result.data.version }]);
    }
  });
  const notify = notifier(plan, record);
  runner.publish();

  let failure: unknown;
  let cancelled = false;
  let aborted: { by: string } | undefined;
  let rejected: { by?: string; comment?: string } | undefined;
  try {
    await notify('started');
    if (plan.approval.required) {
      await notify('awaiting-approval', {
        plan: plan.steps.map((s) => s.title),
        approvers: plan.approval.approvers,
      });
      const outcome = await gates.waitForApproval(() => notify('approval-escalated'));
      if (!outcome.approved) {
        rejected = outcome;
      } else {
        record.status = 'running';
        runner.publish();
        await notify('approved', { by: outcome.by, comment: outcome.comment });
      }
    }
    for (let i = 0; !rejected && i < plan.steps.length;) {
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
        failure = err;
        record.failure = { stepId: step.id, title: step.title, message: error };
        if (decision === 'abort') aborted = { by };
        break;
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancelled = true;
    record.awaitingDecision = undefined;
    gates.audit('(operator)', 'cancel', 'accepted', 'workflow cancellation requested');
  }

  // Everything from here must finish even though the workflow may have been cancelled.
  await CancellationScope.nonCancellable(async () => {
    if ((failure && !aborted) || cancelled) {
      record.status = 'compensating';
      runner.publish();
      await runner.compensate();
    }
    const undosOk = record.undos.every((u) => u.state === 'succeeded');
    record.status = rejected
      ? 'rejected'
      : cancelled
        ? 'cancelled'
        : aborted
          ? 'aborted'
          : failure
            ? undosOk
              ? 'compensated'
              : 'failed'
            : 'succeeded';
    record.finishedAt = new Date().toISOString();
    record.durationMs = Date.now() - startedMs;
    runner.publish();
    try {
      await runner.runStep({ ...LOG_STEP, input: { reportsDir: plan.reportsDir, record: clone(record) } });
    } catch {
      // The log is a record, not part of the rollback: its failure must not change the outcome.
    }
    const step = record.failure
      ? { id: record.failure.stepId, title: record.failure.title, error: record.failure.message }
      : undefined;
    const finalEvent: RollbackEventType =
      record.status === 'rejected'
        ? 'rejected'
        : record.status === 'cancelled'
          ? 'cancelled'
          : record.status === 'aborted'
            ? 'aborted'
            : record.status === 'compensated'
              ? 'compensated'
              : record.status === 'succeeded'
                ? 'succeeded'
                : 'failed';
    await notify(finalEvent, { step, by: rejected?.by ?? aborted?.by, comment: rejected?.comment });
  });

  if (cancelled)
    throw ApplicationFailure.create({
      message: `Rollback ${workflowInfo().workflowId} was cancelled; ${undoSummary(record)}`,
      type: 'RollbackCancelled',
      nonRetryable: true,
      details: [record],
    });
  if (rejected) {
    throw ApplicationFailure.create({
      message: `Rollback ${workflowInfo().workflowId} was rejected by ${rejected.by}${rejected.comment ? `: ${rejected.comment}` : ''}; nothing was changed`,
      type: 'RollbackRejected',
      nonRetryable: true,
      details: [record],
    });
  }
  if (aborted) {
    throw ApplicationFailure.create({
      message: `Rollback ${workflowInfo().workflowId} aborted by ${aborted.by} at step "${record.failure!.title}" (${record.failure!.message}); left as it is, nothing undone`,
      type: 'RollbackAborted',
      nonRetryable: true,
      details: [record],
    });
  }
  if (failure) {
    throw ApplicationFailure.create({
      message: `Rollback ${workflowInfo().workflowId} failed at step "${record.failure!.title}": ${record.failure!.message}; ${undoSummary(record)}`,
      type: 'RollbackFailed',
      nonRetryable: true,
      details: [record],
    });
  }
  return record;
}

function refuse(problem: string | undefined): void {
  if (problem) throw new Error(problem);
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

/**
 * Each notification is an abandoned child workflow: starting it takes one round trip, its retries
 * against a slow or dead endpoint happen outside the rollback, and it outlives the rollback.
 */
function notifier(plan: Plan, record: RollbackRecord) {
  let seq = 0;
  const info = workflowInfo();
  const webUrl = plan.webUiBase
    ? `${plan.webUiBase}/namespaces/${encodeURIComponent(info.namespace)}/workflows/${encodeURIComponent(info.workflowId)}/${info.runId}/history`
    : undefined;
  return async (type: RollbackEventType, extra: Partial<RollbackEvent> = {}): Promise<void> => {
    if (plan.notify.length === 0) return;
    const event: RollbackEvent = {
      type,
      at: new Date().toISOString(),
      rollbackId: record.rollbackId,
      workflowId: info.workflowId,
      target: record.target,
      kind: record.kind,
      toVersion: record.toVersion,
      fromVersion: record.fromVersion,
      requestedBy: record.requestedBy,
      reason: record.reason,
      status: record.status,
      webUrl,
      ...extra,
    };
    // Not cancellable: cancelling the rollback must not cancel (or skip) its notices.
    await CancellationScope.nonCancellable(() =>
      startChild(notifyWorkflow, {
        workflowId: `${info.workflowId}-${info.runId}-notify-${++seq}-${type}`,
        args: [{ channels: plan.notify, event }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        cancellationType: ChildWorkflowCancellationType.ABANDON,
      }),
    );
  };
}
