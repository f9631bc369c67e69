/** The workflow's own record: the progress query returns it and the reports are built from it. */
import type { Finding } from './analysis';
import type { Decision, RollbackKind } from './kinds';
import type { Plan, PlanStep, RollbackRequest, RollbackTrigger, StepRole } from './plan';
import { WAIT_ACTIVITY } from './plan';
import { hostLabel } from './hosts';

export type StepState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

/** How each step state is marked in a checklist (the terminal and the Web UI's current details). */
export const STEP_MARK: Record<StepState, string> = {
  pending: '·',
  running: '▶',
  succeeded: '✔',
  failed: '✘',
  skipped: '↷',
};

export interface StepProgress {
  id: string;
  title: string;
  activity: string;
  /** Absent in records of rollbacks planned before steps had roles. */
  role?: StepRole;
  state: StepState;
  /** Attempts the step took (Temporal retries inside one step count here). */
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  summary?: string;
  lastError?: string;
  /** The failure's type (FAILURES), when the step failed with one of ours. */
  errorType?: string;
  /** Where the step runs, when not on the orchestrator's worker: `user@host:port`, `worker NAME`. */
  host?: string;
  /** The host worker whose task queue the step waits on (host: { worker: NAME }). */
  worker?: string;
}

export interface UndoProgress {
  stepId: string;
  activity: string;
  state: 'running' | 'succeeded' | 'failed';
  summary?: string;
  error?: string;
  /** Absent in records of rollbacks from before undos were timed. */
  startedAt?: string;
  finishedAt?: string;
}

export type RollbackStatus =
  | 'awaiting-approval'
  | 'running'
  | 'awaiting-decision'
  | 'compensating'
  | 'succeeded'
  | 'compensated'
  | 'failed'
  | 'rejected'
  | 'cancelled'
  | 'aborted'
  /** A read-only check of the request failed: nothing was changed, written or announced. */
  | 'refused';

export interface ApprovalEntry {
  by: string;
  at: string;
  decision: 'approved' | 'rejected';
  comment?: string;
  /** 'timeout' when the configured default decided, not a person. */
  via: 'update' | 'signal' | 'timeout';
  /** The fingerprint of the SSH key that signed it, when the target requires signatures. */
  signedBy?: string;
  /** 'slack' when it came from chat (absent: the CLI or another Temporal client). */
  channel?: 'slack';
}

export interface DecisionEntry {
  stepId: string;
  decision: Decision;
  by: string;
  at: string;
  comment?: string;
  /** 'policy': the plan decided at once, nobody was asked. */
  via: 'update' | 'signal' | 'timeout' | 'policy';
  signedBy?: string;
  channel?: 'slack';
}

/** Everything people did or tried to do, including refused attempts (from signals). */
export interface AuditEntry {
  at: string;
  by: string;
  action: 'requested' | 'approve' | 'reject' | 'decide' | 'cancel' | 'escalated' | 'timeout';
  outcome: 'accepted' | 'refused';
  detail?: string;
  /** The key that signed an accepted action (SHA256:…), when the target requires signatures. */
  signedBy?: string;
  channel?: 'slack';
}

export interface RollbackRecord {
  rollbackId: string;
  target: string;
  kind: RollbackKind;
  toVersion: string;
  fromVersion?: string;
  reason: string;
  impact?: string;
  requestedBy: string;
  requestedAt: string;
  /** A guard's rollback: the rule and the samples that made it start one. */
  trigger?: RollbackTrigger;
  /** What the pre-flight analysis found before anything changed (the analyze step's findings). */
  findings?: Finding[];
  status: RollbackStatus;
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  currentStep?: string;
  steps: StepProgress[];
  undos: UndoProgress[];
  failure?: { stepId: string; title: string; message: string; type?: string };
  approvals: ApprovalEntry[];
  decisions: DecisionEntry[];
  audit: AuditEntry[];
  /** Set while the workflow waits for a decision on this step. */
  awaitingDecision?: {
    stepId: string;
    title: string;
    error: string;
    since: string;
    defaultDecision: Decision;
    timeoutSeconds: number;
  };
}

/** The first audit entry of every rollback: who asked, and why. */
export function requestedEntry(request: RollbackRequest, at: string): AuditEntry {
  return { at, by: request.requestedBy, action: 'requested', outcome: 'accepted', detail: request.reason };
}

/**
 * The record a rollback starts with: every step pending, nothing approved, decided or audited yet.
 * The workflow starts from it, and the CLI rebuilds it from a history when no worker answers.
 */
export function pendingRecord(
  request: RollbackRequest,
  plan: Plan,
  steps: PlanStep[],
  startedAt: string,
): RollbackRecord {
  return {
    rollbackId: plan.rollbackId,
    target: plan.target,
    kind: plan.kind,
    toVersion: plan.toVersion,
    reason: request.reason,
    impact: request.impact,
    requestedBy: request.requestedBy,
    requestedAt: request.requestedAt,
    ...(request.trigger ? { trigger: request.trigger } : {}),
    status: 'running',
    startedAt,
    steps: steps.map((s) => ({
      id: s.id,
      title: s.title,
      activity: s.activity,
      role: s.role,
      state: 'pending',
      attempts: 0,
      ...(s.activity !== WAIT_ACTIVITY && s.on
        ? { host: hostLabel(s.on), ...('worker' in s.on ? { worker: s.on.worker } : {}) }
        : {}),
    })),
    undos: [],
    approvals: [],
    decisions: [],
    audit: [],
  };
}
