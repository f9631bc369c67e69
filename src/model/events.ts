import type { RollbackKind } from './kinds';

export type RollbackEventType =
  | 'started'
  | 'awaiting-approval'
  | 'approval-escalated'
  | 'approved'
  | 'rejected'
  | 'step-failed'
  | 'compensated'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'aborted'
  // A guard's notices (the rollback it starts sends its own):
  | 'guard-escalated'
  | 'guard-proposed'
  | 'guard-recorded';

/** What a notification says. Built from the workflow's record: no secret can be in it. */
export interface RollbackEvent {
  type: RollbackEventType;
  at: string;
  rollbackId: string;
  workflowId: string;
  target: string;
  kind: RollbackKind;
  toVersion: string;
  fromVersion?: string;
  requestedBy: string;
  reason: string;
  status: string;
  /** The failed step and its error, for step-failed, failed, compensated. */
  step?: { id: string; title: string; error?: string };
  /** Step titles, for awaiting-approval: approvers see what will run. */
  plan?: string[];
  approvers?: string[];
  /** For awaiting-approval: the pre-flight analysis, one line per finding (names, never values). */
  findings?: string[];
  by?: string;
  comment?: string;
  webUrl?: string;
}
