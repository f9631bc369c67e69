import type { RollbackRecord, StepProgress } from '../workflows/types';

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
  private lastStatus = '';

  constructor(private readonly write: (line: string) => void) {}

  update(record: RollbackRecord): void {
    for (const s of record.steps) {
      const key = `${s.state}:${s.attempts}`;
      if (s.state === 'pending' || this.seen.get(s.id) === key) continue;
      this.seen.set(s.id, key);
      this.write(`${new Date().toISOString().slice(11, 19)} ${formatStep(s)}`);
    }
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
