import { mkdir, readFile, writeFile, appendFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RollbackRecord } from '../model';
import { renderAnalysis } from '../reports/analysis';
import { evaluateSuccessCriteria, summarizeCriteria } from '../reports/criteria';
import { renderIncident, type IncidentFields } from '../reports/incident';
import { logMarker, renderLogEntry } from '../reports/log-entry';
import { renderTimelineSvg } from '../reports/timeline';
import { done, type StepResult } from './common';
import { writeFileAtomic } from './files';

export { renderLogEntry } from '../reports/log-entry';

export type IncidentInput = IncidentFields & { reportsDir: string };

/** The incident log a runbook asks for at the start; rewritten identically on retry. */
export async function recordIncident(input: IncidentInput): Promise<StepResult<{ file: string }>> {
  const dir = join(input.reportsDir, input.rollbackId);
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'incident.md');
  await writeFileAtomic(file, renderIncident(input), 0o644);
  return done(`incident recorded in ${file}`, { file });
}

/**
 * The end-of-rollback reports, from the workflow's record: `ID/record.json`, the post-rollback
 * analysis `ID/analysis.md` and its `ID/timeline.svg` (rewritten identically on retry) and this rollback's entry in
 * the target's `rollback-log.md`, appended once: the entry carries a marker, and an entry
 * already in the log is not appended again.
 */
export async function appendRollbackLog(input: {
  reportsDir: string;
  record: RollbackRecord;
}): Promise<StepResult<{ file: string; recordFile: string; analysisFile: string; criteria: string }>> {
  const { record } = input;
  const dir = join(input.reportsDir, record.rollbackId);
  await mkdir(dir, { recursive: true });
  const recordFile = join(dir, 'record.json');
  await writeFileAtomic(recordFile, JSON.stringify(record, null, 2), 0o644);
  const analysisFile = join(dir, 'analysis.md');
  await writeFileAtomic(analysisFile, renderAnalysis(record), 0o644);
  await writeFileAtomic(join(dir, 'timeline.svg'), renderTimelineSvg(record), 0o644);
  const criteria = summarizeCriteria(evaluateSuccessCriteria(record));
  const file = join(input.reportsDir, 'rollback-log.md');
  const marker = logMarker(record.rollbackId);
  const existing = existsSync(file) ? await readFile(file, 'utf8') : '';
  const data = { file, recordFile, analysisFile, criteria };
  if (existing.includes(marker)) return done(`rollback log already has ${record.rollbackId}`, data);
  if (!existing) await writeFile(file, '# Rollback log\n\n');
  await appendFile(file, renderLogEntry(record) + '\n');
  return done(`rollback log entry and analysis written to ${input.reportsDir} (criteria: ${criteria})`, data);
}
