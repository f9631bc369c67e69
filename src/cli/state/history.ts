import type { temporal } from '@temporalio/proto';
import {
  findingsOf,
  pendingRecord,
  type Decision,
  type PlanStep,
  type RollbackRecord,
  type StepProgress,
  type StepResult,
  type UndoProgress,
} from '../../model';
import { finalStepsOf } from '../../workflows/legacy';
import type { RollbackInput } from '../../workflows/rollback';

/**
 * A rollback read from its workflow history alone, for when no worker answers the progress query:
 * the plan from the start event, each activity the workflow scheduled (scheduled with the step's
 * title as its summary), how each ended, and the attempts of the ones still pending.
 */

export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
export type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;
type Payload = temporal.api.common.v1.IPayload;
export type Decode = <T>(payload: Payload | null | undefined) => T | undefined;

/** A notification child the rollback started (`${workflowId}-${runId}-notify-${n}-${event}`). */
export interface NoticeChild {
  workflowId: string;
  n: number;
  event: string;
}

const UNDO_SUMMARY = /^Undo ([^:]+): (.+)$/;
const NOTICE_ID = /-notify-(\d+)-([a-z-]+)$/;

function isoTime(e: HistoryEvent): string | undefined {
  const t = e.eventTime;
  if (!t) return undefined;
  return new Date(Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}

/** The rollback's input, from its start event. */
export function startInput(events: HistoryEvent[], decode: Decode): RollbackInput | undefined {
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  return decode<RollbackInput>(started?.input?.payloads?.[0]);
}

/** Whether any worker ever ran a workflow task of this run (else nothing of the rollback ran). */
export function pickedUp(events: HistoryEvent[]): boolean {
  return events.some((e) => e.workflowTaskCompletedEventAttributes);
}

/** The notification children the run started, in order. */
export function noticeChildren(events: HistoryEvent[]): NoticeChild[] {
  return events.flatMap((e) => {
    const workflowId = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
    const m = workflowId ? NOTICE_ID.exec(workflowId) : null;
    return workflowId && m ? [{ workflowId, n: Number(m[1]), event: m[2]! }] : [];
  });
}

/** The record the workflow starts with: every step pending (its final steps as the workflow takes them). */
function initialRecord({ request, plan }: RollbackInput, startedAt: string): RollbackRecord {
  return pendingRecord(request, plan, [...plan.steps, ...finalStepsOf(plan)], startedAt);
}

type Call = { step: StepProgress; activityId?: string } | { undo: UndoProgress };

/** Replays the events that matter for progress onto a record. */
class ProgressReplay {
  readonly record: RollbackRecord;
  private readonly calls = new Map<number, Call>();
  private readonly timers = new Map<string, StepProgress>();
  private lastFailed?: { step: StepProgress; at?: string };

  constructor(
    private readonly input: RollbackInput,
    private readonly decode: Decode,
    startedAt: string,
  ) {
    this.record = initialRecord(input, startedAt);
  }

  /** The step a summary names: the first still pending with that title, else the last one run again. */
  private stepFor(title: string, activity: string): StepProgress {
    const same = this.record.steps.filter((s) => s.title === title);
    const step = same.find((s) => s.state === 'pending') ?? same[same.length - 1];
    if (step) return step;
    // A step the workflow adds of its own (the rollback-log entry): shown as it ran.
    const extra: StepProgress = { id: activity, title, activity, state: 'pending', attempts: 0 };
    this.record.steps.push(extra);
    return extra;
  }

  private planStep(id: string): PlanStep | undefined {
    return [...this.input.plan.steps, ...finalStepsOf(this.input.plan)].find((s) => s.id === id);
  }

  apply(e: HistoryEvent): void {
    const id = Number(e.eventId);
    const at = isoTime(e);
    if (e.activityTaskScheduledEventAttributes) this.scheduled(id, e, at);
    else if (e.activityTaskStartedEventAttributes) {
      const a = e.activityTaskStartedEventAttributes;
      const call = this.calls.get(Number(a.scheduledEventId));
      if (call && 'step' in call) call.step.attempts = a.attempt ?? call.step.attempts;
    } else if (e.activityTaskCompletedEventAttributes) {
      const a = e.activityTaskCompletedEventAttributes;
      this.completed(Number(a.scheduledEventId), this.decode<StepResult>(a.result?.payloads?.[0]), at);
    } else if (e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes) {
      const a = (e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes)!;
      this.failed(Number(a.scheduledEventId), a.failure ?? undefined, at);
    } else if (e.activityTaskCanceledEventAttributes) {
      const a = e.activityTaskCanceledEventAttributes;
      this.failed(Number(a.scheduledEventId), { message: 'cancelled' }, at);
    } else if (e.timerStartedEventAttributes) this.timerStarted(e, at);
    else if (e.timerFiredEventAttributes) {
      const step = this.timers.get(e.timerFiredEventAttributes.timerId ?? '');
      if (step) Object.assign(step, { state: 'succeeded', attempts: 1, finishedAt: at });
    } else if (e.workflowExecutionUpdateAcceptedEventAttributes) this.update(e, at);
  }

  private scheduled(id: number, e: HistoryEvent, at?: string): void {
    const a = e.activityTaskScheduledEventAttributes!;
    const activity = a.activityType?.name ?? '?';
    const title = this.decode<string>(e.userMetadata?.summary) ?? activity;
    const undo = UNDO_SUMMARY.exec(title);
    if (undo) {
      const entry: UndoProgress = { stepId: undo[1]!, activity: undo[2]!, state: 'running' };
      this.record.undos.push(entry);
      this.calls.set(id, { undo: entry });
      return;
    }
    const step = this.stepFor(title, activity);
    Object.assign(step, { state: 'running', startedAt: at, finishedAt: undefined, lastError: undefined });
    this.calls.set(id, { step, activityId: a.activityId ?? undefined });
    this.lastFailed = undefined;
  }

  private completed(scheduledId: number, result: StepResult | undefined, at?: string): void {
    const call = this.calls.get(scheduledId);
    if (!call) return;
    if ('undo' in call) {
      Object.assign(call.undo, { state: 'succeeded', summary: result?.summary });
      return;
    }
    const { step } = call;
    Object.assign(step, { state: 'succeeded', summary: result?.summary, finishedAt: at });
    step.attempts = result?.attempt ?? Math.max(step.attempts, 1);
    if (step.startedAt && at) step.durationMs = Date.parse(at) - Date.parse(step.startedAt);
    const which = this.planStep(step.id)?.reportsVersion;
    const version = (result?.data as { version?: unknown } | undefined)?.version;
    if (which && typeof version === 'string')
      this.record[which === 'from' ? 'fromVersion' : 'toVersion'] = version;
    const findings = findingsOf(step.id, result?.data);
    if (findings) this.record.findings = findings;
  }

  private failed(
    scheduledId: number,
    failure:
      { message?: string | null; applicationFailureInfo?: { type?: string | null } | null } | undefined,
    at?: string,
  ): void {
    const call = this.calls.get(scheduledId);
    if (!call) return;
    const message = failure?.message ?? 'failed';
    if ('undo' in call) {
      Object.assign(call.undo, { state: 'failed', error: message });
      return;
    }
    const { step } = call;
    Object.assign(step, { state: 'failed', lastError: message, finishedAt: at });
    step.errorType = failure?.applicationFailureInfo?.type ?? undefined;
    step.attempts = Math.max(step.attempts, 1);
    this.lastFailed = { step, at };
  }

  private timerStarted(e: HistoryEvent, at?: string): void {
    const title = this.decode<string>(e.userMetadata?.summary);
    const step = title
      ? this.record.steps.find((s) => s.title === title && s.state === 'pending')
      : undefined;
    if (!step) return; // a deadline of the workflow's own (approval, decision), not a wait step
    Object.assign(step, { state: 'running', startedAt: at });
    this.timers.set(e.timerStartedEventAttributes!.timerId ?? '', step);
  }

  /** Accepted Updates passed the workflow's checks: they are approvals, rejections and decisions. */
  private update(e: HistoryEvent, at?: string): void {
    const input = e.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest?.input;
    const args = this.decode<{ by: string; comment?: string; decision?: Decision; stepId?: string }>(
      input?.args?.payloads?.[0],
    );
    if (!args || !at) return;
    if (input?.name === 'approve' || input?.name === 'reject') {
      const decision = input.name === 'approve' ? 'approved' : 'rejected';
      this.record.approvals.push({ by: args.by, at, decision, comment: args.comment, via: 'update' });
    } else if (input?.name === 'decide' && args.decision) {
      const stepId = args.stepId ?? this.lastFailed?.step.id ?? '?';
      this.record.decisions.push({
        stepId,
        decision: args.decision,
        by: args.by,
        at,
        comment: args.comment,
        via: 'update',
      });
      this.lastFailed = undefined;
    }
  }

  /** The activities still pending, with the attempt they are on and why the last one failed. */
  applyPending(pending: PendingActivity[]): void {
    for (const p of pending) {
      const call = [...this.calls.values()].find((c) => 'step' in c && c.activityId === p.activityId);
      if (!call || !('step' in call)) continue;
      call.step.attempts = Math.max(call.step.attempts, p.attempt ?? 1);
      if (p.lastFailure?.message) call.step.lastError = p.lastFailure.message;
    }
  }

  /** What the workflow is doing, as far as its history tells. */
  settle(closed: boolean): void {
    const r = this.record;
    const { plan } = this.input;
    const running = r.steps.find((s) => s.state === 'running');
    r.currentStep = running?.id;
    if (closed) r.status = 'failed';
    else if (r.undos.length) r.status = 'compensating';
    else if (
      this.lastFailed &&
      (plan.onFailure.wait || this.planStep(this.lastFailed.step.id)?.onFailure === 'decide')
    ) {
      const { step, at } = this.lastFailed;
      r.status = 'awaiting-decision';
      r.awaitingDecision = {
        stepId: step.id,
        title: step.title,
        error: step.lastError ?? 'failed',
        since: at ?? r.startedAt,
        defaultDecision: plan.onFailure.default,
        timeoutSeconds: plan.onFailure.timeoutSeconds,
      };
    } else if (this.awaitingApproval()) r.status = 'awaiting-approval';
    else r.status = 'running';
  }

  private awaitingApproval(): boolean {
    const { approval } = this.input.plan;
    if (!approval.required) return false;
    if (this.record.approvals.some((a) => a.decision === 'rejected')) return false;
    if (this.record.approvals.filter((a) => a.decision === 'approved').length >= approval.quorum)
      return false;
    // Read-only checks and records may run before the gate; the change itself runs after it.
    return !this.record.steps.some(
      (s) => s.state !== 'pending' && !['check', 'inspect', 'record'].includes(s.role ?? ''),
    );
  }
}

/** The rollback's record as its history tells it, for a run no worker answers for. */
export function recordFromHistory(
  input: RollbackInput,
  events: HistoryEvent[],
  decode: Decode,
  pending: PendingActivity[],
  closed: boolean,
): RollbackRecord {
  const replay = new ProgressReplay(
    input,
    decode,
    (events[0] && isoTime(events[0])) ?? input.request.requestedAt,
  );
  for (const e of events) replay.apply(e);
  replay.applyPending(pending);
  replay.settle(closed);
  return replay.record;
}
