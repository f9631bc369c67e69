import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AuditEntry, Decision, Finding, RollbackRecord } from '../model';

/** Shared by the workflow, the CLI, the chat front end and the tests. */
export const progressQuery = defineQuery<RollbackRecord>('progress');
export const auditQuery = defineQuery<AuditEntry[]>('audit');

/** An SSH signature (ssh-keygen -Y sign) over the action's signedMessage, and its nonce. */
export interface Signed {
  signature?: string;
  nonce?: string;
  /** Where the person acted; recorded, and covered by the signature when there is one. */
  channel?: 'cli' | 'slack';
}

export interface ApprovalInput extends Signed {
  by: string;
  comment?: string;
}

export interface DecisionInput extends Signed {
  by: string;
  decision: Decision;
  /** The failed step this decision is about; refused if the rollback now waits on another. */
  stepId?: string;
  comment?: string;
}

export interface MessageResult {
  accepted: true;
  status: string;
  approvals: number;
  needed: number;
}

/** What `preflight` answers once the read-only checks at the head of the plan passed. */
export interface PreflightResult {
  fromVersion?: string;
  toVersion: string;
  /** One line per check that ran. */
  checks: string[];
  /** The pre-flight analysis's findings, when the plan has one. */
  findings?: Finding[];
}

/**
 * Answers once the plan's read-only checks have run: with their results, or failing with the
 * failure of the check that did not hold (nothing was written then). Started with the workflow
 * (update-with-start), it lets `rollback start` return only once the request is known to be good.
 */
export const preflightUpdate = defineUpdate<PreflightResult>('preflight');

/** Updates: refused at once by their validators (nothing enters the history) or accepted. */
export const approveUpdate = defineUpdate<MessageResult, [ApprovalInput]>('approve');
export const rejectUpdate = defineUpdate<MessageResult, [ApprovalInput]>('reject');
export const decideUpdate = defineUpdate<MessageResult, [DecisionInput]>('decide');

/** The same as signals, for tools that can only signal; refused ones are kept in the audit trail. */
export const approveSignal = defineSignal<[ApprovalInput]>('approve-signal');
export const rejectSignal = defineSignal<[ApprovalInput]>('reject-signal');
export const decideSignal = defineSignal<[DecisionInput]>('decide-signal');
