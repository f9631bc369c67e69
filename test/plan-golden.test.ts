import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getTarget, parseConfig } from '../src/targets/load';
import { planRollback, type RollbackRequest } from '../src/targets/plan';

/**
 * The plans of every fixture config, as `rollback plan --json` prints them, compared byte for byte
 * with the committed golden files: a refactoring must not change what a rollback does. After a
 * deliberate change of a plan, regenerate with UPDATE_GOLDEN=1 and review the diff.
 */
const CONFIGS = join(__dirname, 'fixtures', 'configs');
const GOLDEN = join(__dirname, 'golden', 'plans');

interface Case {
  name: string;
  config: string;
  target: string;
  request: Partial<RollbackRequest> & Pick<RollbackRequest, 'kind'>;
}

const CASES: Case[] = [
  { name: 'git-pm2-emergency', config: 'git-pm2', target: 'lightdash-mcp', request: { kind: 'emergency' } },
  {
    name: 'git-pm2-emergency-to',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'emergency', toVersion: 'v1.10.0' },
  },
  {
    name: 'git-pm2-complete',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'complete', commits: ['3f2a9c1', 'a1b2c3d4..e5f6a7b8'] },
  },
  { name: 'git-pm2-partial', config: 'git-pm2', target: 'lightdash-mcp', request: { kind: 'partial' } },
  {
    name: 'git-pm2-complete-no-commit',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'complete' },
  },
  {
    name: 'git-pm2-unsafe-version',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'emergency', toVersion: 'v1; rm -rf /' },
  },
  {
    name: 'git-command-emergency',
    config: 'git-command',
    target: 'billing-api',
    request: { kind: 'emergency', requestedBy: 'bob' },
  },
  {
    name: 'git-command-complete',
    config: 'git-command',
    target: 'billing-api',
    request: { kind: 'complete', commits: ['deadbeef'] },
  },
  { name: 'git-command-partial', config: 'git-command', target: 'billing-api', request: { kind: 'partial' } },
  {
    name: 'git-command-emergency-self-approval',
    config: 'git-command',
    target: 'billing-api',
    request: { kind: 'emergency', requestedBy: 'carol' },
  },
  { name: 'ecs-emergency', config: 'ecs', target: 'catalog', request: { kind: 'emergency' } },
  {
    name: 'ecs-emergency-to',
    config: 'ecs',
    target: 'catalog',
    request: { kind: 'emergency', toVersion: 'catalog:41' },
  },
  {
    name: 'ecs-complete',
    config: 'ecs',
    target: 'catalog',
    request: { kind: 'complete', commits: ['0123abcd'] },
  },
  { name: 'ecs-partial', config: 'ecs', target: 'catalog', request: { kind: 'partial' } },
  { name: 'ecs-minimal-emergency', config: 'ecs', target: 'search', request: { kind: 'emergency' } },
  { name: 'ecs-minimal-partial', config: 'ecs', target: 'search', request: { kind: 'partial' } },
  {
    name: 'ecs-minimal-complete',
    config: 'ecs',
    target: 'search',
    request: { kind: 'complete', commits: ['0123abcd'] },
  },
  {
    name: 'ecs-bad-revision',
    config: 'ecs',
    target: 'catalog',
    request: { kind: 'emergency', toVersion: 'arn:aws:ecs:nope' },
  },
];

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
