import { computeTiming } from './analysis';
import { CRITERION_MARK, evaluateSuccessCriteria, summarizeCriteria } from './criteria';
import { cell, md } from './markdown';
import { approvalsOf, decisionsOf, formatDuration, reportedSteps, type ReportRecord } from './record';

/**
 * The HTML comment that marks a rollback's entry in the log (an entry already there is not
 * appended again). An id from an older record may hold anything: encoded, it can neither end
 * the comment nor match another rollback's marker.
 */
export function logMarker(rollbackId: string): string {
  return `<!-- rollback:${encodeURIComponent(String(rollbackId))} -->`;
}

function resolution(record: ReportRecord): string {
  if (record.status === 'succeeded') return `${md(record.target)} is on ${md(record.toVersion)}, validated`;
  if (!record.finishedAt) return `in progress (${md(record.status)})`;
  const undone = record.undos.length
    ? `undid ${record.undos.filter((u) => u.state === 'succeeded').length}/${record.undos.length} steps`
    : 'nothing to undo';
  return record.failure
    ? `rollback failed at "${md(record.failure.title)}": ${md(record.failure.message)}; ${undone}`
    : `rollback ended ${md(record.status)}; ${undone}`;
}

/** One rollback's entry in the target's markdown rollback log. */
export function renderLogEntry(record: ReportRecord): string {
  const steps = reportedSteps(record);
  const retried = steps.filter((s) => s.attempts > 1);
  const timing = computeTiming(record);
  const criteria = evaluateSuccessCriteria(record);
  const approvals = approvalsOf(record);
  const decisions = decisionsOf(record);
  const reason = md(record.reason);
  const lines = [
    logMarker(record.rollbackId),
    `## ${md(record.requestedAt)} — ${md(record.target)}: ${md(record.kind)} rollback ${md(record.fromVersion ?? '?')} → ${md(record.toVersion)} (${md(record.status)})`,
    '',
    `- **Trigger**: ${reason} (requested by ${md(record.requestedBy)})`,
    `- **Time**: started ${md(record.startedAt)}, finished ${md(record.finishedAt ?? 'not finished')}`,
    `- **Duration**: ${formatDuration(record.durationMs)}${
      timing.timeToRestoreMs !== undefined
        ? `; service restored after ${formatDuration(timing.timeToRestoreMs)}`
        : ''
    }`,
    `- **Root cause**: ${reason}${record.fromVersion ? ` (release ${md(record.fromVersion)})` : ''}; to be confirmed at the post-incident review`,
    `- **Resolution**: ${resolution(record)}`,
    ...(approvals.length
      ? [
          `- **Approvals**: ${approvals.map((a) => `${md(a.decision)} by ${md(a.by)}${a.channel ? ` from ${md(a.channel)}` : ''}${a.signedBy ? ` (signed by ${md(a.signedBy)})` : ''} at ${md(a.at)}`).join('; ')}`,
        ]
      : []),
    ...(decisions.length
      ? [
          `- **Decisions**: ${decisions
            .map((d) => `${md(d.decision)} on ${md(d.stepId)} by ${md(d.by)} at ${md(d.at)}`)
            .join('; ')}`,
        ]
      : []),
    `- **Prevention**: to be filled in at the post-incident review`,
    `- **Success criteria**: ${summarizeCriteria(criteria)}`,
    ...criteria.map(
      (c) => `  - ${CRITERION_MARK[c.state]}: ${c.label}${c.state === 'fail' ? ` — ${md(c.detail)}` : ''}`,
    ),
    `- **Analysis**: ${md(record.rollbackId)}/analysis.md`,
    '',
    '| step | state | attempts | time | summary |',
    '| --- | --- | --- | --- | --- |',
    ...steps.map(
      (s) =>
        `| ${cell(s.title)} | ${cell(s.state)} | ${cell(s.attempts)} | ${s.durationMs !== undefined ? formatDuration(s.durationMs) : ''} | ${cell(s.state === 'failed' ? s.lastError : (s.summary ?? s.lastError))} |`,
    ),
    ...(retried.length
      ? ['', `Retried: ${retried.map((s) => `${md(s.title)} (${md(s.attempts)} attempts)`).join(', ')}`]
      : []),
    ...(record.undos.length
      ? [
          '',
          'Undone:',
          ...record.undos.map(
            (u) =>
              `- ${md(u.activity)} (for ${md(u.stepId)}): ${md(u.state)}${u.error ? ` — ${md(u.error)}` : ''}`,
          ),
        ]
      : []),
    '',
  ];
  return lines.join('\n');
}
