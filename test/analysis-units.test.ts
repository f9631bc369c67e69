import {
  classify,
  diffLocks,
  diffRanges,
  parseLockFile,
  cacheContentPath,
} from '../src/analysis/dependencies';
import { documentedKeys, envFindings, envKeys } from '../src/analysis/env-keys';
import {
  globBase,
  globRegExp,
  matchMigrations,
  migrationFindings,
  migrationName,
} from '../src/analysis/migrations';
import { rollbackMessage } from '../src/chatops/blocks';
import type { RollbackRecord } from '../src/model';
import {
  applyAcceptances,
  blockingFindings,
  formatFinding,
  refusalMessage,
  type Finding,
} from '../src/model/analysis';
import { channelBody } from '../src/notifications/channels';

/** The pure parts of the pre-flight analysis; the activities are tested against real git and engines. */

describe('lock files', () => {
  const v3 = (deps: Record<string, string>, direct: string[]) =>
    JSON.stringify({
      lockfileVersion: 3,
      packages: {
        '': { name: 'svc', dependencies: Object.fromEntries(direct.map((d) => [d, '*'])) },
        ...Object.fromEntries(Object.entries(deps).map(([n, v]) => [`node_modules/${n}`, { version: v }])),
        'node_modules/linked': { link: true, resolved: '../linked' },
      },
    });

  test('v3: every installed package, the root dependencies direct, links skipped', () => {
    const lock = parseLockFile(v3({ a: '1.0.0', 'a/node_modules/b': '2.0.0' }, ['a']));
    expect([...lock.packages.keys()]).toEqual(['a', 'a/node_modules/b']);
    expect([...lock.direct]).toEqual(['a']);
  });

  test('v1: nested dependencies flattened to install paths, the top level direct', () => {
    const lock = parseLockFile(
      JSON.stringify({
        lockfileVersion: 1,
        dependencies: { a: { version: '1.0.0', dependencies: { b: { version: '2.0.0' } } } },
      }),
    );
    expect(Object.fromEntries([...lock.packages].map(([k, v]) => [k, v.version]))).toEqual({
      a: '1.0.0',
      'a/node_modules/b': '2.0.0',
    });
    expect([...lock.direct]).toEqual(['a']);
  });

  test('changes are classified from what runs to the target; 0.x minors are breaking', () => {
    const from = parseLockFile(v3({ a: '2.0.0', b: '1.2.0', c: '0.3.0', gone: '1.0.0' }, ['a']));
    const to = parseLockFile(v3({ a: '1.9.0', b: '1.2.1', c: '0.2.0', fresh: '1.0.0' }, ['a']));
    expect(diffLocks(from, to).map((c) => [c.name, c.change, c.direct])).toEqual([
      ['a', 'major', true],
      ['b', 'patch', false],
      ['c', 'major', false],
      ['fresh', 'added', false],
      ['gone', 'removed', false],
    ]);
    expect(classify('1.0.0', '1.0.0-rc.1')).toBe('other');
    expect(() => parseLockFile('{not json')).toThrow();
  });

  test('declared ranges compare by their lowest version', () => {
    expect(diffRanges({ a: '^1.2.0', b: '~2.0.0' }, { a: '^2.0.0', b: '~2.0.0', c: '1.0.0' })).toEqual([
      { name: 'a', change: 'major', from: '^1.2.0', to: '^2.0.0', direct: true },
      { name: 'c', change: 'added', to: '1.0.0', direct: true },
    ]);
  });

  test("an integrity names cacache's content path", () => {
    const integrity = `sha512-${Buffer.from('ab'.repeat(32), 'hex').toString('base64')}`;
    expect(cacheContentPath('/c', integrity)).toBe(`/c/_cacache/content-v2/sha512/ab/ab/${'ab'.repeat(30)}`);
    expect(cacheContentPath('/c', 'md5-xyz')).toBeNull();
  });
});

describe('env keys', () => {
  test('keys are read without their values; `# KEY=` in an example is optional', () => {
    expect(envKeys('A=1\nexport B="x y"\n# C=3\n  D = 4\nnot a line\n')).toEqual(['A', 'B', 'D']);
    expect(documentedKeys('A=\n# B=default\n# just a comment\n')).toEqual({
      required: ['A'],
      optional: ['B'],
    });
  });

  test('a required key missing blocks, an undocumented one warns, and no value is ever in a finding', () => {
    const findings = envFindings({ required: ['A', 'B'], optional: ['O'] }, ['A', 'O', 'EXTRA'], 'the .env');
    expect(findings.map((f) => [f.id, f.severity])).toEqual([
      ['env:B', 'block'],
      ['env-unknown:EXTRA', 'warn'],
    ]);
  });
});

describe('migrations', () => {
  test('globs match as git pathspecs do: ** crosses folders, * and ? stay in one, dots are literal', () => {
    expect(globRegExp('migrations/**').test('migrations/20261101_add_orders.sql')).toBe(true);
    expect(globRegExp('migrations/**').test('migrations/2026/x/up.sql')).toBe(true);
    expect(globRegExp('migrations/**').test('other/migrations/x.sql')).toBe(false);
    expect(globRegExp('db/*.sql').test('db/a.sql')).toBe(true);
    expect(globRegExp('db/*.sql').test('db/sub/a.sql')).toBe(false);
    expect(globRegExp('db/*.sql').test('db/axsql')).toBe(false);
    expect(globRegExp('**/schema.prisma').test('schema.prisma')).toBe(true);
    expect(globRegExp('**/schema.prisma').test('prisma/schema.prisma')).toBe(true);
    expect(globRegExp('v?/up.sql').test('v1/up.sql')).toBe(true);
    expect(globRegExp('v?/up.sql').test('v10/up.sql')).toBe(false);
    expect(
      matchMigrations(
        ['migrations/a.sql', 'src/x.js', 'prisma/migrations/b/migration.sql'],
        ['migrations/**', 'prisma/migrations/**'],
      ),
    ).toEqual([
      { path: 'migrations/a.sql', glob: 'migrations/**' },
      { path: 'prisma/migrations/b/migration.sql', glob: 'prisma/migrations/**' },
    ]);
  });

  test('named after the file or the folder below the glob', () => {
    expect(globBase('prisma/migrations/**')).toBe('prisma/migrations');
    expect(migrationName('migrations/20261101_add_orders.sql', 'migrations/**')).toBe('20261101_add_orders');
    expect(migrationName('prisma/migrations/20261101_add_orders/migration.sql', 'prisma/migrations/**')).toBe(
      '20261101_add_orders',
    );
    const findings = migrationFindings(
      [
        { path: 'prisma/migrations/x/migration.sql', glob: 'prisma/migrations/**' },
        { path: 'prisma/migrations/x/extra.sql', glob: 'prisma/migrations/**' },
      ],
      'since v1',
    );
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ id: 'migration:x', severity: 'block' });
  });
});

describe('acceptances', () => {
  const findings: Finding[] = [
    { id: 'migration:a', severity: 'block', title: 'a' },
    { id: 'migration:b', severity: 'block', title: 'b' },
    { id: 'env:K', severity: 'block', title: 'k' },
    { id: 'dep:x', severity: 'warn', title: 'x' },
  ];
  test('an id or KIND:* accepts block findings only; the refusal names the rest and the fix', () => {
    expect(blockingFindings(applyAcceptances(findings, ['migration:a'])).map((f) => f.id)).toEqual([
      'migration:b',
      'env:K',
    ]);
    expect(blockingFindings(applyAcceptances(findings, ['migration:*', 'env:K']))).toEqual([]);
    expect(applyAcceptances(findings, ['dep:x']).find((f) => f.id === 'dep:x')!.accepted).toBeUndefined();
    const message = refusalMessage(blockingFindings(findings), 'svc');
    expect(message).toContain('--accept migration:a --accept migration:b --accept env:K');
    expect(message).toContain('targets.svc.analysis.accept');
  });
});

describe('findings where approvers look: the Slack notice and the chat message', () => {
  const findings: Finding[] = [
    { id: 'migration:20261101_add_orders', severity: 'block', accepted: true, title: 'migration added' },
    { id: 'env-unknown:NEW_FLAG', severity: 'warn', title: 'NEW_FLAG is <!channel> undocumented' },
  ];

  test('the awaiting-approval notice lists each finding, as Slack text (no mention gets through)', () => {
    const event = {
      type: 'awaiting-approval' as const,
      at: '2026-01-01T00:00:00.000Z',
      rollbackId: 'svc-1',
      workflowId: 'rollback-svc',
      target: 'svc',
      kind: 'emergency' as const,
      toVersion: 'v1.30.0',
      requestedBy: 'alice',
      reason: 'broken',
      status: 'awaiting-approval',
      findings: findings.map(formatFinding),
    };
    const { text } = channelBody({ type: 'slack', url: 'https://hooks.slack.invalid/x' }, event) as {
      text: string;
    };
    expect(text).toContain('*Pre-flight analysis*');
    expect(text).toContain('• block (accepted) migration:20261101_add_orders: migration added');
    expect(text).not.toContain('<!channel>');
  });

  test("the chat message shows the record's findings, blocks first", () => {
    const record = {
      rollbackId: 'svc-1',
      target: 'svc',
      kind: 'emergency',
      toVersion: 'v1.30.0',
      reason: 'broken',
      requestedBy: 'alice',
      requestedAt: '2026-01-01T00:00:00.000Z',
      status: 'awaiting-approval',
      startedAt: '2026-01-01T00:00:00.000Z',
      steps: [],
      undos: [],
      approvals: [],
      decisions: [],
      audit: [],
      findings: [...findings].reverse(),
    } as RollbackRecord;
    const { blocks } = rollbackMessage(record, { workflowId: 'rollback-svc', runId: 'r1' });
    const text = JSON.stringify(blocks);
    const at = (s: string) => text.indexOf(s);
    expect(at('*Pre-flight analysis*')).toBeGreaterThan(-1);
    expect(at('migration:20261101_add_orders')).toBeLessThan(at('env-unknown:NEW_FLAG'));
    expect(text).not.toContain('<!channel>');
  });
});
