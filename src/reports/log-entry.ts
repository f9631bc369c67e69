import { computeTiming } from './analysis';
import { CRITERION_MARK, evaluateSuccessCriteria, summarizeCriteria } from './criteria';
import { approvalsOf, cell, decisionsOf, formatDuration, reportedSteps, type ReportRecord } from './record';

export function logMarker(rollbackId: string): string {
  return `<!-- rollback:${rollbackId} -->`;
}

function resolution(record: ReportRecord): string {
  if (record.status === 'succeeded') return `${record.target} is on ${record.toVersion}, validated`;
  if (!record.finishedAt) return `in progress (${record.status})`;
  const undone = record.undos.length
    ? `undid ${record.undos.filter((u) => u.state === 'succeeded').length}/${record.undos.length} steps`
    : 'nothing to undo';
  return record.failure
    ? `rollback failed at "${record.failure.title}": ${record.failure.message}; ${undone}`
    : `rollback ended ${record.status}; ${undone}`;
}

/** One rollback's entry in the target's markdown rollback log. */
export function renderLogEntry(record: ReportRecord): string {
  const steps = reportedSteps(record);
  const retried = steps.filter((s) => s.attempts > 1);
  const timing = computeTiming(record);
  const criteria = evaluateSuccessCriteria(record);
  const approvals = approvalsOf(record);
  const decisions = decisionsOf(record);
  const lines = [
    logMarker(record.rollbackId),
    `## ${record.requestedAt} — ${record.target}: ${record.kind} rollback ${record.fromVersion ?? '?'} → ${record.toVersion} (${record.status})`,
    '',
    `- **Trigger**: ${record.reason} (requested by ${record.requestedBy})`,
    `- **Time**: started ${record.startedAt}, finished ${record.finishedAt ?? 'not finished'}`,
    `- **Duration**: ${formatDuration(record.durationMs)}${
      timing.timeToRestoreMs !== undefined
        ? `; service restored after ${formatDuration(timing.timeToRestoreMs)}`
        : ''
    }`,
    `- **Root cause**: ${record.reason}${record.fromVersion ? ` (release ${record.fromVersion})` : ''}; to be confirmed at the post-incident review`,
    `- **Resolution**: ${resolution(record)}`,
    ...(approvals.length
      ? [`- **Approvals**: ${approvals.map((a) => `${a.decision} by ${a.by} at ${a.at}`).join('; ')}`]
      : []),
    ...(decisions.length
      ? [
          `- **Decisions**: ${decisions
            .map((d) => `${d.decision} on ${d.stepId} by ${d.by} at ${d.at}`)
            .join('; ')}`,
        ]
      : []),
    `- **Prevention**: to be filled in at the post-incident review`,
    `- **Success criteria**: ${summarizeCriteria(criteria)}`,
    ...criteria.map(
      (c) => `  - ${CRITERION_MARK[c.state]}: ${c.label}${c.state === 'fail' ? ` — ${c.detail}` : ''}`,
    ),
    `- **Analysis**: ${record.rollbackId}/analysis.md`,
    '',
    '| step | state | attempts | time | summary |',
    '| --- | --- | --- | --- | --- |',
    ...steps.map(
      (s) =>
        `| ${cell(s.title)} | ${s.state} | ${s.attempts} | ${s.durationMs !== undefined ? formatDuration(s.durationMs) : ''} | ${cell(s.state === 'failed' ? s.lastError : (s.summary ?? s.lastError))} |`,
    ),
    ...(retried.length
      ? ['', `Retried: ${retried.map((s) => `${s.title} (${s.attempts} attempts)`).join(', ')}`]
      : []),
    ...(record.undos.length
      ? [
          '',
          'Undone:',
          ...record.undos.map(
            (u) => `- ${u.activity} (for ${u.stepId}): ${u.state}${u.error ? ` — ${u.error}` : ''}`,
          ),
        ]
      : []),
    '',
  ];
  return lines.join('\n');
}
