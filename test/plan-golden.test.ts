import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getTarget, parseConfig } from '../src/targets/load';

import type { RollbackRequest } from '../src/model';
import { planRollback } from '../src/targets/plan';
import { GOLDEN_CASES as CASES, type GoldenCase as Case } from './golden/cases';

/**
 * The plans of every fixture config, as `rollback plan --json` prints them, compared byte for byte
 * with the committed golden files: a refactoring must not change what a rollback does. After a
 * deliberate change of a plan, regenerate with UPDATE_GOLDEN=1 and review the diff.
 */
const CONFIGS = join(__dirname, 'fixtures', 'configs');
const GOLDEN = join(__dirname, 'golden', 'plans');

function render(c: Case): string {
  const file = join(CONFIGS, `${c.config}.yaml`);
  const config = parseConfig(readFileSync(file, 'utf8'), `${c.config}.yaml`);
  const request: RollbackRequest = {
    rollbackId: `${c.target}-20261122-000000-beef`,
    target: c.target,
    reason: 'v1.20.2 fails health checks',
    impact: 'MCP tools unavailable',
    requestedBy: 'alice',
    requestedAt: '2026-11-22T00:00:00.000Z',
    webUiBase: 'http://127.0.0.1:8233',
    ...c.request,
  };
  try {
    const plan = planRollback(getTarget({ file, config }, c.target), request, config);
    return JSON.stringify(plan, null, 2) + '\n';
  } catch (err) {
    return JSON.stringify({ ok: false, error: (err as Error).message }, null, 2) + '\n';
  }
}

describe('plans of the fixture configs match the golden files byte for byte', () => {
  if (process.env.UPDATE_GOLDEN) mkdirSync(GOLDEN, { recursive: true });

  test.each(CASES.map((c) => [c.name, c] as const))('%s', (name, c) => {
    const golden = join(GOLDEN, `${name}.json`);
    const text = render(c);
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, text);
    expect(existsSync(golden)).toBe(true);
    expect(text).toBe(readFileSync(golden, 'utf8'));
  });

  test('every golden file belongs to a case', () => {
    const names = new Set(CASES.map((c) => `${c.name}.json`));
    expect(readdirSync(GOLDEN).filter((f) => !names.has(f))).toEqual([]);
  });
});
