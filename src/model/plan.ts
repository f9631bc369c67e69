import type { AllowedSigner } from './signatures';
import type { HostSpec } from './hosts';
import type { Activities } from '../activities';
import type { Decision, RollbackKind } from './kinds';

/**
 * A rollback plan is data: the CLI prints it, an approver reads it, the workflow executes it.
 * Each step names an activity as a key of the activities' type, with that activity's input, so a
 * renamed activity or input field fails the build, not a rollback.
 */

/** How a call is retried and timed; the workflow maps each class to Temporal activity options. */
export type RetryClass = 'record' | 'quick' | 'service' | 'install' | 'validate';

/** What a step is for, in the runbook's words: the workflow and the reports read this, not ids. */
export type StepRole =
  | 'record' // incident and rollback-log entries
  | 'inspect' // read the deployed state
  | 'check' // read-only checks of the request against the world
  // (inspect and check steps at the head of a plan run before anything is written or announced)
  | 'backup'
  | 'stop'
  | 'change' // the change itself: checkout, install, register, update...
  | 'start' // the service runs the rolled-back version once this succeeds
  | 'validate'
  | 'wait'; // a durable timer

export interface RollbackRequest {
  /** Names the backup folder and the report folder; unique per rollback of a target. */
  rollbackId: string;
  target: string;
  kind: RollbackKind;
  toVersion?: string;
  /** Complete rollbacks: the offending commits (a commit, or a range A..B). */
  commits?: string[];
  reason: string;
  impact?: string;
  requestedBy: string;
  /** ISO timestamp, taken by the client: planning itself never reads the clock. */
  requestedAt: string;
  /** The Temporal Web UI's base address, for links in notifications. */
  webUiBase?: string;
  /** Redeploy even when the service already runs the version asked for. */
  force?: boolean;
  /** Block findings of the pre-flight analysis the requester accepts (`--accept migration:NAME`). */
  accept?: string[];
  /** Set when a guard started the rollback: the rule that held and its samples. */
  trigger?: RollbackTrigger;
}

export interface RollbackTrigger {
  type: 'automatic';
  rule: string;
  evidence: string[];
}

/**
 * A value `{ $ref: "stepId.field" }` in a step input is replaced, when the step runs, by that field
 * of an earlier step's result data. This is how an undo learns, say, the commit a checkout left.
 */
export interface StepRef {
  $ref: string;
}

export function ref(path: string): StepRef {
  return { $ref: path };
}

/** A value, or a reference to an earlier step's result that becomes one when the step runs. */
export type Refable<T> = T extends readonly unknown[]
  ? T | StepRef
  : T extends object
    ? { [K in keyof T]: Refable<T[K]> } | StepRef
    : T | StepRef;

/** Any activities type: a map of activity names to one-argument async functions. */
export type ActivityMap = { [name: string]: (input: any) => Promise<unknown> };

type InputOf<F> = F extends (input: infer I) => Promise<unknown> ? I : never;

/**
 * One activity call: its name, its input (checked against the activity's parameter), and its
 * retry class. A union over every activity, so the compiler pairs each name with its own input.
 */
export type ActivityCall<Acts extends ActivityMap = Activities> = {
  [A in keyof Acts & string]: {
    activity: A;
    input: Refable<InputOf<Acts[A]>>;
    retry: RetryClass;
    /** Where it runs, when not where the orchestrator's worker runs: an SSH host or a host's worker. */
    on?: HostSpec;
  };
}[keyof Acts & string];

interface StepCommon {
  id: string;
  title: string;
  role: StepRole;
  /** This step's result `version` is the rollback's from-version ('from') or to-version ('to'). */
  reportsVersion?: 'from' | 'to';
  /** 'decide': wait for an operator decision when this step fails, whatever the kind's policy. */
  onFailure?: 'decide';
}

/** A step the workflow runs as an activity, with the calls that undo it. */
export type ActivityStep<Acts extends ActivityMap = Activities> = StepCommon &
  ActivityCall<Acts> & {
    /** Run in order, after this step's later steps were undone, when the rollback compensates. */
    undo: ActivityCall<Acts>[];
  };

/** Not an activity: the workflow waits on a durable timer (between validation phases, a log window). */
export const WAIT_ACTIVITY = 'wait';
export interface TimerStep extends StepCommon {
  activity: typeof WAIT_ACTIVITY;
  retry: 'record';
  input: { seconds: number };
  undo: [];
}

export type PlanStep<Acts extends ActivityMap = Activities> = ActivityStep<Acts> | TimerStep;

export interface ApprovalPolicy {
  required: boolean;
  approvers: string[];
  quorum: number;
  timeoutSeconds?: number;
  onTimeout: 'reject' | 'approve';
  /** Present only when set: approvals and decisions count only when signed by one of `signers`. */
  requireSignature?: true;
  signers?: AllowedSigner[];
}

export interface FailurePolicy {
  /** Wait for an operator decision when a step fails for good (else: the default at once). */
  wait: boolean;
  timeoutSeconds: number;
  default: Decision;
}

/** A notification channel as the plan carries it: URLs or names of env variables, never secrets. */
export interface ChannelRef {
  type: string;
  name?: string;
  url?: string;
  urlEnv?: string;
  [setting: string]: unknown;
}

/** What every activity returns: a line for people, the attempt it took, and data for later steps. */
export interface StepResult<D extends Record<string, unknown> = Record<string, unknown>> {
  summary: string;
  attempt: number;
  data: D;
}

/**
 * Plans made by this code carry this. Without it: made before steps had roles (format 1). Format 2
 * had no final steps; format 3 runs its read-only checks first and names its final steps.
 */
export const PLAN_FORMAT = 3;

/** The read-only steps at the head of a plan: they run before anything is written or announced. */
export function leadingChecks<S extends { role?: StepRole }>(steps: S[]): S[] {
  const end = steps.findIndex((s) => s.role !== 'inspect' && s.role !== 'check');
  return steps.slice(0, end === -1 ? steps.length : end);
}

/** The pseudo-step whose result the final steps read: `{ $ref: 'rollback.record' }` is the record. */
export const ROLLBACK_REF = 'rollback';

export interface Plan<Acts extends ActivityMap = Activities> {
  rollbackId: string;
  target: string;
  kind: RollbackKind;
  toVersion: string;
  /** Where the pre-rollback config files are kept (on the target host). */
  backupPath: string;
  reportsDir: string;
  approval: ApprovalPolicy;
  onFailure: FailurePolicy;
  notify: ChannelRef[];
  webUiBase?: string;
  steps: PlanStep<Acts>[];
  /** Run at the end whatever the outcome (after any undos): the reports. */
  finalSteps?: PlanStep<Acts>[];
  format?: 2 | typeof PLAN_FORMAT;
}
