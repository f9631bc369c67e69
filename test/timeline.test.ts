import type { RollbackRecord } from '../src/model';
import { renderTimelineSvg } from '../src/reports';

/** The SVG timeline is pure: built from a record, checked here without a rollback (reports.test.ts has real ones). */

const at = (s: number) => new Date(Date.UTC(2026, 10, 23, 9, 0, 0) + s * 1000).toISOString();
const step = (id: string, title: string, from: number, to: number, state = 'succeeded', attempts = 1) => ({
  id,
  title,
  activity: 'checkoutRef',
  state,
  attempts,
  startedAt: at(from),
  finishedAt: at(to),
});

const record = {
  rollbackId: 'svc-20261123-090000-ab12',
  target: 'svc',
  kind: 'emergency',
  toVersion: 'v1.11.4',
  status: 'compensated',
  steps: [
    step('inspect', 'Inspect', 0, 1),
    step('install', 'npm ci <with "quotes">', 1, 9, 'succeeded', 2),
    step('start', 'Start', 9, 14, 'failed', 3),
    { id: 'validate', title: 'Check health', activity: 'checkHealth', state: 'pending', attempts: 0 },
  ],
  undos: [
    { stepId: 'install', activity: 'checkoutRef', state: 'succeeded', startedAt: at(14), finishedAt: at(16) },
  ],
} as unknown as RollbackRecord;

test('one bar per step that ran and per undo, placed on the rollback’s own clock, labels escaped', () => {
  const svg = renderTimelineSvg(record);
  const bars = [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*rx="2" fill="([^"]+)"/g)];
  expect(bars.map((b) => b[3])).toEqual(['#2e7d32', '#2e7d32', '#c62828', '#ef6c00']);
  // 16 s over 640 px: the install bar starts at 1 s and lasts 8 s.
  expect(Number(bars[1]![1])).toBeCloseTo(300 + 640 / 16, 0);
  expect(Number(bars[1]![2])).toBeCloseTo((640 * 8) / 16, 0);
  expect(svg).toContain('npm ci &lt;with &quot;quotes&quot;&gt;');
  expect(svg).toContain('8 s · succeeded, 2 attempts');
  expect(svg).toContain('undo install: checkoutRef');
  // A step that never started is listed, without a bar.
  expect(svg).toMatch(/Check health<\/text>\n<text x="300" y="\d+" fill="#90a4ae">pending/);
});

test('a record from before undos were timed still renders, its undos listed without bars', () => {
  const old = {
    ...record,
    undos: [{ stepId: 'install', activity: 'checkoutRef', state: 'succeeded' }],
  } as RollbackRecord;
  const svg = renderTimelineSvg(old);
  expect(svg).toContain('undo install: checkoutRef');
  expect(svg.match(/fill="#ef6c00"><title>/g)).toBeNull();
});
