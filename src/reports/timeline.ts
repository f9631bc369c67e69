import { reportedSteps, type ReportRecord } from './record';

/**
 * A picture of one rollback: an SVG Gantt chart of its steps (when each started, how long it took,
 * how many attempts) and its undos in another colour, written beside analysis.md. Pure: built from
 * the record, the same whenever it is rebuilt. Steps that never started are listed without a bar.
 */

const COLOURS: Record<string, string> = {
  succeeded: '#2e7d32',
  failed: '#c62828',
  skipped: '#9e9e9e',
  running: '#1565c0',
  pending: '#cfd8dc',
  undo: '#ef6c00',
  'undo-failed': '#6d1b1b',
};

const LABEL = 300;
const CHART = 640;
const ROW = 22;
const TOP = 48;

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const ms = (iso?: string) => (iso ? Date.parse(iso) : NaN);

function seconds(n: number): string {
  return n >= 100 ? `${Math.round(n)} s` : `${Number(n.toFixed(1))} s`;
}

interface Row {
  label: string;
  start: number;
  end: number;
  colour: string;
  note: string;
}

export function renderTimelineSvg(record: ReportRecord): string {
  const rows: Row[] = [];
  for (const s of reportedSteps(record)) {
    const start = ms(s.startedAt);
    const end = ms(s.finishedAt) || (Number.isFinite(start) ? start + (s.durationMs ?? 0) : NaN);
    rows.push({
      label: s.title,
      start,
      end,
      colour: COLOURS[s.state] ?? COLOURS.pending!,
      note: `${s.state}${s.attempts > 1 ? `, ${s.attempts} attempts` : ''}`,
    });
  }
  for (const u of record.undos ?? []) {
    rows.push({
      label: `undo ${u.stepId}: ${u.activity}`,
      start: ms(u.startedAt),
      end: ms(u.finishedAt),
      colour: u.state === 'failed' ? COLOURS['undo-failed']! : COLOURS.undo!,
      note: `undo ${u.state}`,
    });
  }
  const timed = rows.filter((r) => Number.isFinite(r.start));
  const t0 = timed.length ? Math.min(...timed.map((r) => r.start)) : 0;
  const t1 = timed.length ? Math.max(...timed.map((r) => (Number.isFinite(r.end) ? r.end : r.start))) : 1;
  const span = Math.max(t1 - t0, 1);
  const x = (t: number) => LABEL + ((t - t0) / span) * CHART;
  const height = TOP + rows.length * ROW + 30;
  const width = LABEL + CHART + 150;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${xml(`${record.kind} rollback of ${record.target} to ${record.toVersion}: ${record.status}`)}</title>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">${xml(`${record.rollbackId}: ${record.status} (${seconds(span / 1000)})`)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (span * i) / 4;
    out.push(
      `<line x1="${x(t).toFixed(1)}" y1="${TOP - 8}" x2="${x(t).toFixed(1)}" y2="${height - 24}" stroke="#eceff1"/>`,
      `<text x="${x(t).toFixed(1)}" y="${TOP - 12}" text-anchor="middle" fill="#546e7a">${seconds((t - t0) / 1000)}</text>`,
    );
  }
  rows.forEach((r, i) => {
    const y = TOP + i * ROW;
    out.push(
      `<text x="8" y="${y + 14}">${xml(r.label.length > 44 ? `${r.label.slice(0, 43)}…` : r.label)}</text>`,
    );
    if (!Number.isFinite(r.start)) {
      out.push(`<text x="${LABEL}" y="${y + 14}" fill="#90a4ae">${xml(r.note)}</text>`);
      return;
    }
    const end = Number.isFinite(r.end) ? r.end : r.start;
    const w = Math.max(x(end) - x(r.start), 2);
    const took = seconds((end - r.start) / 1000);
    out.push(
      `<rect x="${x(r.start).toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${ROW - 6}" rx="2" fill="${r.colour}"><title>${xml(`${r.label}: ${r.note}, ${took}`)}</title></rect>`,
      `<text x="${(x(r.start) + w + 6).toFixed(1)}" y="${y + 14}" fill="#37474f">${xml(`${took} · ${r.note}`)}</text>`,
    );
  });
  const legend = [
    ['succeeded', COLOURS.succeeded],
    ['failed', COLOURS.failed],
    ['skipped', COLOURS.skipped],
    ['undo', COLOURS.undo],
  ];
  legend.forEach(([name, colour], i) => {
    const lx = 8 + i * 110;
    out.push(
      `<rect x="${lx}" y="${height - 18}" width="12" height="12" fill="${colour}"/>`,
      `<text x="${lx + 16}" y="${height - 8}">${name}</text>`,
    );
  });
  out.push('</svg>', '');
  return out.join('\n');
}
