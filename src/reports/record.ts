import type { ActivityName } from '../activities';
import type { RollbackRecord, StepProgress, StepRole } from '../model';

/**
 * What the report renderers read. Approvals and decisions come from the gates (issue 3); a record
 * from a workflow without them (an older run, or one that never needed a gate) still renders.
 */
export interface ApprovalLike {
  by: string;
  at: string;
  decision: string;
  comment?: string;
  via?: string;
  /** The SSH key that signed it (SHA256:…). */
  signedBy?: string;
  channel?: string;
}

export interface DecisionLike {
  stepId: string;
  decision: string;
  by: string;
  at: string;
  comment?: string;
  via?: string;
  signedBy?: string;
  channel?: string;
}

export type ReportRecord = Omit<RollbackRecord, 'approvals' | 'decisions'> & {
  approvals?: ApprovalLike[];
  decisions?: DecisionLike[];
};

/** The step that writes the reports is not part of what they describe. */
export const REPORT_STEP_ID = 'rollback-log';

export function approvalsOf(record: ReportRecord): ApprovalLike[] {
  return Array.isArray(record.approvals) ? record.approvals : [];
}

export function decisionsOf(record: ReportRecord): DecisionLike[] {
  return Array.isArray(record.decisions) ? record.decisions : [];
}

/** The plan's steps as they ran, without the report step itself. */
export function reportedSteps(record: ReportRecord): StepProgress[] {
  return record.steps.filter((s) => s.id !== REPORT_STEP_ID);
}

/** A rollback still in flight: its reports describe it so far. */
export function isFinished(record: ReportRecord): boolean {
  return record.finishedAt !== undefined;
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return 'unknown';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return ms < 60_000
    ? `${(ms / 1000).toFixed(1)} s`
    : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function msBetween(from: string | undefined, to: string | undefined): number | undefined {
  if (!from || !to) return undefined;
  const d = Date.parse(to) - Date.parse(from);
  return Number.isFinite(d) ? d : undefined;
}

/** Records of rollbacks planned before steps had roles: their roles, from the activity. */
const ROLE_BEFORE_ROLES: Partial<Record<ActivityName, StepRole>> = {
  startService: 'start',
  restartService: 'start',
  waitForEcsDeployment: 'start',
  checkHealth: 'validate',
  checkMcp: 'validate',
  checkLatency: 'validate',
  scanLogs: 'validate',
  checkEcsService: 'validate',
  checkTargetGroupHealth: 'validate',
  checkCloudWatchAlarms: 'validate',
};

/** What a step was for: a start (the service runs the new version once it succeeds), a validation... */
export function roleOf(step: Pick<StepProgress, 'role' | 'activity'>): StepRole | undefined {
  if (step.role) return step.role;
  // An older record may name any activity: only the table's own entries count.
  return Object.hasOwn(ROLE_BEFORE_ROLES, step.activity)
    ? ROLE_BEFORE_ROLES[step.activity as ActivityName]
    : undefined;
}
