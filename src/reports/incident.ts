import { formatFinding, sortFindings, type Finding } from '../model/analysis';
import { md } from './markdown';
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
  /** A guard's rollback: the rule that held and its samples. */
  trigger?: { rule: string; evidence: string[] };
  /** The pre-flight analysis: what the rollback changes, as known before it started. */
  findings?: Finding[];
}

export function renderIncident(f: IncidentFields): string {
  const systems: unknown[] = Array.isArray(f.affectedSystems) ? f.affectedSystems : [];
  return [
    `# Incident: ${md(f.kind)} rollback of ${md(f.target)}`,
    '',
    `- **Date**: ${md(f.requestedAt)}`,
    `- **Reporter**: ${md(f.requestedBy)}`,
    `- **Description**: ${md(f.reason)}`,
    `- **Impact**: ${md(f.impact)}`,
    `- **Affected systems**: ${systems.map((s) => md(s)).join(', ')}`,
    `- **Decision**: ${md(f.kind)} rollback to ${md(f.toVersion)}`,
    `- **Rollback id**: ${md(f.rollbackId)}`,
    ...(f.trigger ? triggerLines(f.trigger) : []),
    ...(Array.isArray(f.findings) ? findingLines(f.findings) : []),
    '',
  ].join('\n');
}

/** The analysis as a list under its own heading: one line per finding, its details indented. */
export function findingLines(findings: Finding[]): string[] {
  const lines = ['', '## Pre-flight analysis', ''];
  if (findings.length === 0) lines.push('- nothing to flag');
  for (const f of sortFindings(findings)) {
    lines.push(`- ${md(formatFinding(f))}`);
    for (const d of Array.isArray(f.details) ? f.details : []) lines.push(`  - ${md(String(d))}`);
  }
  return lines;
}

/** What made a guard start the rollback, as the guard saw it: the rule and each sample of its window. */
function triggerLines(t: { rule: string; evidence: string[] }): string[] {
  const evidence = Array.isArray(t.evidence) ? t.evidence : [];
  return [
    `- **Trigger**: automatic, guard rule ${md(t.rule)}`,
    '',
    '## Evidence',
    '',
    '```',
    ...evidence.map((line) => String(line).replace(/`/g, "'")),
    '```',
  ];
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
    ...(record.trigger ? { trigger: record.trigger } : {}),
    ...(record.findings ? { findings: record.findings } : {}),
  };
}
