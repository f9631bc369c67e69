import type { RollbackRecord, StepProgress } from '../model';

const MARK: Record<string, string> = {
  pending: '·',
  running: '▶',
  succeeded: '✔',
  failed: '✘',
  skipped: '↷',
};

function secs(ms?: number): string {
  return ms === undefined ? '' : ` (${(ms / 1000).toFixed(1)} s)`;
}

export function formatStep(s: StepProgress): string {
  const attempts = s.attempts > 1 ? ` [${s.attempts} attempts]` : '';
  const detail = s.state === 'failed' ? s.lastError : s.summary;
  return `${MARK[s.state] ?? '?'} ${s.title}${secs(s.durationMs)}${attempts}${detail ? ` — ${detail}` : ''}`;
}

export function formatRecord(record: RollbackRecord): string {
  const lines = [
    `${record.kind} rollback of ${record.target}: ${record.fromVersion ?? '?'} → ${record.toVersion}  [${record.status}]`,
    `  id ${record.rollbackId}, requested by ${record.requestedBy} at ${record.requestedAt}: ${record.reason}`,
    ...record.steps.map((s) => `  ${formatStep(s)}`),
  ];
  if (record.undos.length) {
    lines.push('  undo:');
    for (const u of record.undos)
      lines.push(
        `    ${u.state === 'succeeded' ? '✔' : u.state === 'failed' ? '✘' : '▶'} ${u.activity} (for ${u.stepId})${u.summary ? ` — ${u.summary}` : ''}${u.error ? ` — ${u.error}` : ''}`,
      );
  }
  for (const a of record.approvals ?? [])
    lines.push(`  ${a.decision} by ${a.by} at ${a.at}${a.comment ? `: ${a.comment}` : ''}`);
  for (const d of record.decisions ?? [])
    lines.push(`  decision on ${d.stepId}: ${d.decision} by ${d.by} at ${d.at}`);
  if (record.awaitingDecision)
    lines.push(
      `  waiting for a decision on "${record.awaitingDecision.title}": ${record.awaitingDecision.error}`,
    );
  if (record.failure) lines.push(`  failed at "${record.failure.title}": ${record.failure.message}`);
  if (record.durationMs !== undefined) lines.push(`  took ${(record.durationMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}

/**
 * Prints a line each time a step or an undo changes state, from successive progress snapshots.
 * Keeps what it has printed, so polling faster than steps change prints nothing twice.
 */
export class ProgressPrinter {
  private readonly seen = new Map<string, string>();
  private undosSeen = 0;
  private approvalsSeen = 0;
  private decisionsSeen = 0;
  private lastStatus = '';

  constructor(private readonly write: (line: string) => void) {}

  update(record: RollbackRecord): void {
    for (const s of record.steps) {
      const key = `${s.state}:${s.attempts}`;
      if (s.state === 'pending' || this.seen.get(s.id) === key) continue;
      this.seen.set(s.id, key);
      this.write(`${new Date().toISOString().slice(11, 19)} ${formatStep(s)}`);
    }
    if (record.status !== this.lastStatus && record.status === 'awaiting-approval') {
      this.write(
        `${new Date().toISOString().slice(11, 19)} ⏸ awaiting approval: rollback approve|reject rollback-${record.target} --as NAME`,
      );
    }
    if (
      record.status !== this.lastStatus &&
      record.status === 'awaiting-decision' &&
      record.awaitingDecision
    ) {
      const d = record.awaitingDecision;
      this.write(
        `${new Date().toISOString().slice(11, 19)} ⏸ "${d.title}" failed: ${d.error}\n         decide within ${d.timeoutSeconds} s (default ${d.defaultDecision}): rollback decide rollback-${record.target} retry|skip|compensate|abort --as NAME`,
      );
    }
    for (const a of record.approvals.slice(this.approvalsSeen)) {
      this.write(
        `${new Date().toISOString().slice(11, 19)} ${a.decision === 'approved' ? '✔' : '✘'} ${a.decision} by ${a.by}${a.comment ? `: ${a.comment}` : ''}`,
      );
    }
    this.approvalsSeen = record.approvals.length;
    for (const d of record.decisions.slice(this.decisionsSeen)) {
      this.write(
        `${new Date().toISOString().slice(11, 19)} ↪ decision on ${d.stepId}: ${d.decision} (by ${d.by})`,
      );
    }
    this.decisionsSeen = record.decisions.length;
    if (record.status !== this.lastStatus && record.status === 'compensating') {
      this.write(
        `${new Date().toISOString().slice(11, 19)} ↺ compensating: undoing completed steps in reverse order`,
      );
    }
    this.lastStatus = record.status;
    const finished = record.undos.filter((u) => u.state !== 'running');
    for (const u of finished.slice(this.undosSeen)) {
      this.write(
        `${new Date().toISOString().slice(11, 19)}   ${u.state === 'succeeded' ? '✔' : '✘'} undo ${u.activity} (for ${u.stepId})${u.summary ? ` — ${u.summary}` : ''}${u.error ? ` — ${u.error}` : ''}`,
      );
    }
    this.undosSeen = finished.length;
  }
}
