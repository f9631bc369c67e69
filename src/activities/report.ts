import { mkdir, readFile, writeFile, appendFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RollbackRecord } from '../workflows/types';
import { done, type StepResult } from './common';
import { writeFileAtomic } from './files';

export interface IncidentInput {
  reportsDir: string;
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

/** The incident log a runbook asks for at the start; rewritten identically on retry. */
export async function recordIncident(input: IncidentInput): Promise<StepResult<{ file: string }>> {
  const dir = join(input.reportsDir, input.rollbackId);
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'incident.md');
  const text = [
    `# Incident: ${input.kind} rollback of ${input.target}`,
    '',
    `- **Date**: ${input.requestedAt}`,
    `- **Reporter**: ${input.requestedBy}`,
    `- **Description**: ${input.reason}`,
    `- **Impact**: ${input.impact}`,
    `- **Affected systems**: ${input.affectedSystems.join(', ')}`,
    `- **Decision**: ${input.kind} rollback to ${input.toVersion}`,
    `- **Rollback id**: ${input.rollbackId}`,
    '',
  ].join('\n');
  await writeFileAtomic(file, text, 0o644);
  return done(`incident recorded in ${file}`, { file });
}

function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return 'unknown';
  return ms < 60_000
    ? `${(ms / 1000).toFixed(1)} s`
    : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function renderLogEntry(record: RollbackRecord): string {
  const retried = record.steps.filter((s) => s.attempts > 1);
  const lines = [
    `<!-- rollback:${record.rollbackId} -->`,
    `## ${record.requestedAt} — ${record.target}: ${record.kind} rollback ${record.fromVersion ?? '?'} → ${record.toVersion} (${record.status})`,
    '',
    `- **Trigger**: ${record.reason} (requested by ${record.requestedBy})`,
    `- **Time**: started ${record.startedAt}, finished ${record.finishedAt ?? 'not finished'}`,
    `- **Duration**: ${formatDuration(record.durationMs)}`,
    `- **Root cause**: ${record.reason}`,
    `- **Resolution**: ${
      record.status === 'succeeded'
        ? `${record.target} is on ${record.toVersion}, validated`
        : `rollback failed at "${record.failure?.title ?? '?'}": ${record.failure?.message ?? 'unknown'}; ${
            record.undos.length
              ? `undid ${record.undos.filter((u) => u.state === 'succeeded').length}/${record.undos.length} steps`
              : 'nothing to undo'
          }`
    }`,
    `- **Prevention**: to be filled in at the post-incident review`,
    '',
    '| step | state | attempts | time | summary |',
    '| --- | --- | --- | --- | --- |',
    ...record.steps.map(
      (s) =>
        `| ${s.title} | ${s.state} | ${s.attempts} | ${s.durationMs !== undefined ? formatDuration(s.durationMs) : ''} | ${(s.summary ?? s.lastError ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`,
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

/**
 * Appends this rollback's entry to the target's rollback log, once: the entry carries a marker,
 * and an entry already in the log is not appended again on retry.
 */
export async function appendRollbackLog(input: {
  reportsDir: string;
  record: RollbackRecord;
}): Promise<StepResult<{ file: string; recordFile: string }>> {
  const { record } = input;
  await mkdir(join(input.reportsDir, record.rollbackId), { recursive: true });
  const recordFile = join(input.reportsDir, record.rollbackId, 'record.json');
  await writeFileAtomic(recordFile, JSON.stringify(record, null, 2), 0o644);
  const file = join(input.reportsDir, 'rollback-log.md');
  const marker = `<!-- rollback:${record.rollbackId} -->`;
  const existing = existsSync(file) ? await readFile(file, 'utf8') : '';
  if (existing.includes(marker))
    return done(`rollback log already has ${record.rollbackId}`, { file, recordFile });
  if (!existing) await writeFile(file, '# Rollback log\n\n');
  await appendFile(file, renderLogEntry(record) + '\n');
  return done(`rollback log entry appended to ${file}`, { file, recordFile });
}
