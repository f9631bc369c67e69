import type { ReportRecord } from './record';

/** The incident log a runbook asks for at the start of a rollback. */
export interface IncidentFields {
  rollbackId: string;
  target: string;
  kind: string;
  toVersion: string;
  reason: string;
  impact: string;
  requestedBy: string;
  requestedAt: string;
  affectedSystems: string[];
}

export function renderIncident(f: IncidentFields): string {
  return [
    `# Incident: ${f.kind} rollback of ${f.target}`,
    '',
    `- **Date**: ${f.requestedAt}`,
    `- **Reporter**: ${f.requestedBy}`,
    `- **Description**: ${f.reason}`,
    `- **Impact**: ${f.impact}`,
    `- **Affected systems**: ${f.affectedSystems.join(', ')}`,
    `- **Decision**: ${f.kind} rollback to ${f.toVersion}`,
    `- **Rollback id**: ${f.rollbackId}`,
    '',
  ].join('\n');
}

/** When the plan's own incident input is not at hand, the record holds all but the deploy path. */
export function incidentFieldsFromRecord(record: ReportRecord): IncidentFields {
  return {
    rollbackId: record.rollbackId,
    target: record.target,
    kind: record.kind,
    toVersion: record.toVersion,
    reason: record.reason,
    impact: record.impact ?? 'not stated',
    requestedBy: record.requestedBy,
    requestedAt: record.requestedAt,
    affectedSystems: [record.target],
  };
}
