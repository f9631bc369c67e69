import { STEP_MARK, type RollbackRecord, type StepProgress, type UndoProgress } from '../model';
import { oneLine } from '../model/text';

/**
 * How a rollback's record reads in a terminal. Every text in a record that came from outside (what
 * people typed, errors, summaries) goes through oneLine: a newline or an escape sequence in it can
 * never forge a line ("approved by carol") or recolour the terminal.
 */

const t = (text: string | undefined) => oneLine(text ?? '');

function secs(ms?: number): string {
  return ms === undefined ? '' : ` (${(ms / 1000).toFixed(1)} s)`;
}

export function formatStep(s: StepProgress): string {
  const attempts = s.attempts > 1 ? ` [${s.attempts} attempts]` : '';
  const detail = s.state === 'failed' || (s.state === 'running' && s.lastError) ? s.lastError : s.summary;
  return `${STEP_MARK[s.state] ?? '?'} ${t(s.title)}${secs(s.durationMs)}${attempts}${detail ? ` — ${t(detail)}` : ''}`;
}

function formatUndo(u: UndoProgress): string {
  const mark = u.state === 'succeeded' ? '✔' : u.state === 'failed' ? '✘' : '▶';
  return `${mark} ${t(u.activity)} (for ${t(u.stepId)})${u.summary ? ` — ${t(u.summary)}` : ''}${u.error ? ` — ${t(u.error)}` : ''}`;
}

export function formatRecord(record: RollbackRecord): string {
  const lines = [
    `${record.kind} rollback of ${t(record.target)}: ${t(record.fromVersion ?? '?')} → ${t(record.toVersion)}  [${record.status}]`,
    `  id ${t(record.rollbackId)}, requested by ${t(record.requestedBy)} at ${t(record.requestedAt)}: ${t(record.reason)}`,
    ...(record.impact ? [`  impact: ${t(record.impact)}`] : []),
    ...record.steps.map((s) => `  ${formatStep(s)}`),
  ];
  if (record.undos.length) {
    lines.push('  undo:');
    for (const u of record.undos) lines.push(`    ${formatUndo(u)}`);
  }
  for (const a of record.approvals ?? [])
    lines.push(`  ${a.decision} by ${t(a.by)} at ${t(a.at)}${a.comment ? `: ${t(a.comment)}` : ''}`);
  for (const d of record.decisions ?? [])
    lines.push(
      `  decision on ${t(d.stepId)}: ${d.decision} by ${t(d.by)} at ${t(d.at)}${d.comment ? `: ${t(d.comment)}` : ''}`,
    );
  for (const r of (record.audit ?? []).filter((e) => e.outcome === 'refused'))
    lines.push(`  refused: ${r.action} by ${t(r.by)} at ${t(r.at)}${r.detail ? `: ${t(r.detail)}` : ''}`);
  if (record.awaitingDecision)
    lines.push(
      `  waiting for a decision on "${t(record.awaitingDecision.title)}": ${t(record.awaitingDecision.error)}`,
    );
  if (record.failure) lines.push(`  failed at "${t(record.failure.title)}": ${t(record.failure.message)}`);
  if (record.durationMs !== undefined) lines.push(`  took ${(record.durationMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}

/**
 * Turns successive snapshots of a record into one line per change (a step or an undo changed
 * state, an approval or a decision arrived), so polling faster than steps change prints nothing twice.
 */
export class ProgressPrinter {
  private readonly seen = new Map<string, string>();
  private undosSeen = 0;
  private approvalsSeen = 0;
  private decisionsSeen = 0;
  private lastStatus = '';

  constructor(private readonly write: (line: string) => void) {}

  update(record: RollbackRecord): void {
    this.steps(record);
    this.statusChange(record);
    for (const a of record.approvals.slice(this.approvalsSeen))
      this.write(
        `${a.decision === 'approved' ? '✔' : '✘'} ${a.decision} by ${t(a.by)}${a.comment ? `: ${t(a.comment)}` : ''}`,
      );
    this.approvalsSeen = record.approvals.length;
    for (const d of record.decisions.slice(this.decisionsSeen))
      this.write(`↪ decision on ${t(d.stepId)}: ${d.decision} (by ${t(d.by)})`);
    this.decisionsSeen = record.decisions.length;
    this.lastStatus = record.status;
    const finished = record.undos.filter((u) => u.state !== 'running');
    for (const u of finished.slice(this.undosSeen))
      this.write(`  ${formatUndo(u).replace(/^(\S+) /, '$1 undo ')}`);
    this.undosSeen = finished.length;
  }

  private steps(record: RollbackRecord): void {
    for (const s of record.steps) {
      const key = `${s.state}:${s.attempts}`;
      if (s.state === 'pending' || this.seen.get(s.id) === key) continue;
      this.seen.set(s.id, key);
      this.write(formatStep(s));
    }
  }

  private statusChange(record: RollbackRecord): void {
    if (record.status === this.lastStatus) return;
    const id = `rollback-${t(record.target)}`;
    if (record.status === 'awaiting-approval') {
      this.write(`⏸ awaiting approval: rollback approve|reject ${id} --as NAME`);
    } else if (record.status === 'awaiting-decision' && record.awaitingDecision) {
      const d = record.awaitingDecision;
      this.write(
        `⏸ "${t(d.title)}" failed: ${t(d.error)}\n         decide within ${d.timeoutSeconds} s (default ${d.defaultDecision}): rollback decide ${id} retry|skip|compensate|abort --as NAME`,
      );
    } else if (record.status === 'compensating') {
      this.write('↺ compensating: undoing completed steps in reverse order');
    }
  }
}
