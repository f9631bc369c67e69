/** The workflow's own record: the progress query returns it and the reports are built from it. */
import type { RollbackKind } from '../targets/plan';

export type StepState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface StepProgress {
  id: string;
  title: string;
  activity: string;
  state: StepState;
  /** Attempts the step took (Temporal retries inside one step count here). */
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  summary?: string;
  lastError?: string;
}

export interface UndoProgress {
  stepId: string;
  activity: string;
  state: 'running' | 'succeeded' | 'failed';
  summary?: string;
  error?: string;
}

export type RollbackStatus = 'running' | 'compensating' | 'succeeded' | 'compensated' | 'failed';

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
  status: RollbackStatus;
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  currentStep?: string;
  steps: StepProgress[];
  undos: UndoProgress[];
  failure?: { stepId: string; title: string; message: string };
}
