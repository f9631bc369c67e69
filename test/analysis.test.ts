import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { git, gitDescribe } from './rig/fixture-repo';
import { readTree } from './rig/read-tree';
import { parse, stringify } from 'yaml';
import { eventually } from './rig/eventually';
import { runCli, startReceiver } from './rig/rollback';
import { rollbackSuite } from './rig/suite';
import type { Sandbox } from './rig/sandbox';

/**
 * The pre-flight analysis against a real git history: two releases on top of the fixture's,
 * v1.30.0 (the target: documents LEGACY_REGION as required, the fixture's lock) and v1.31.0 (what
 * runs: adds a migration, drops LEGACY_REGION from .env.example, and locks zod 3 and left-pad).
 * The host's .env has NEW_FLAG, which v1.30.0 does not document, and the sandbox's canary secret.
 */

const suite = rollbackSuite('analysis');

const MIGRATION = 'migration:20261101_add_orders';

function writeJson(file: string, edit: (v: Record<string, any>) => void) {
  const value = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  edit(value);
  writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

async function release(work: string, tag: string, change: () => void) {
  const version = tag.slice(1);
  writeJson(join(work, 'package.json'), (p) => (p.version = version));
  writeJson(join(work, 'package-lock.json'), (l) => {
    l.version = version;
    l.packages[''].version = version;
  });
  writeFileSync(join(work, 'release.json'), JSON.stringify({ failureMode: 'none' }) + '\n');
  change();
  await git(['add', '--all'], work);
  await git(['commit', '--quiet', '-m', `release ${version}`], work);
  await git(['tag', '-a', tag, '-m', tag], work);
}

async function analysisSandbox(): Promise<Sandbox> {
  // bob may approve: a complete rollback needs an approver (its plan is refused without one).
  const sb = await suite.sandbox({
    name: 'analysis',
    configure: (_t, config) => (config.approvers = ['bob']),
  });
  const keys = Object.keys(sb.env);
  await release(sb.work, 'v1.30.0', () => {
    writeFileSync(
      join(sb.work, '.env.example'),
      [...keys.map((k) => `${k}=`), 'LEGACY_REGION=eu-west-1', '# OPTIONAL_DEBUG=1', ''].join('\n'),
    );
  });
  await release(sb.work, 'v1.31.0', () => {
    writeFileSync(join(sb.work, '.env.example'), [...keys.map((k) => `${k}=`), 'NEW_FLAG=on', ''].join('\n'));
    mkdirSync(join(sb.work, 'migrations'));
    writeFileSync(join(sb.work, 'migrations', '20261101_add_orders.sql'), 'create table orders (id int);\n');
    writeJson(join(sb.work, 'package-lock.json'), (l) => {
      l.packages['node_modules/zod'].version = '3.25.76';
      l.packages['node_modules/left-pad'] = { version: '1.3.0' };
    });
  });
  await git(['push', '--quiet', 'origin', 'HEAD:refs/heads/main', '--tags'], sb.work);
  // v1.31.0 is what runs: its code, the installed modules of the fixture, NEW_FLAG in the host's .env.
  await git(['fetch', '--quiet', '--tags', 'origin'], sb.deployPath);
  await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', 'v1.31.0'], sb.deployPath);
  appendFileSync(join(sb.deployPath, '.env'), 'NEW_FLAG=on\n');
  return sb;
}

let sb: Sandbox;
beforeAll(async () => {
  sb = await analysisSandbox();
});

const planArgs = () => [
  '--config',
  sb.configFile,
  'plan',
  'emergency',
  '--target',
  sb.target,
  '--to',
  'v1.30.0',
];

describe('rollback plan shows what the rollback changes', () => {
  test('a migration and a missing required env key block; an undocumented key and a major downgrade warn; the secret is never shown', async () => {
    const r = await runCli([...planArgs(), '--json']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as {
      steps: { id: string }[];
      preview: {
        findings: { id: string; severity: string; title: string; details?: string[] }[];
        refused?: string;
      };
    };
    // Read-only, before the incident: inspect, resolve, analyze.
    expect(out.steps.slice(0, 4).map((s) => s.id)).toEqual(['inspect', 'resolve', 'analyze', 'incident']);
    const byId = Object.fromEntries(out.preview.findings.map((f) => [f.id, f]));
    expect(byId[MIGRATION]?.severity).toBe('block');
    expect(byId[MIGRATION]?.details).toEqual(['migrations/20261101_add_orders.sql']);
    expect(byId['env:LEGACY_REGION']?.severity).toBe('block');
    expect(byId['env-unknown:NEW_FLAG']?.severity).toBe('warn');
    // Documented (required or optional) keys the host has raise nothing.
    for (const k of Object.keys(sb.env)) expect(byId[`env:${k}`]).toBeUndefined();
    expect(byId['env-unknown:OPTIONAL_DEBUG']).toBeUndefined();
    expect(byId['dep:zod']).toMatchObject({ severity: 'warn', title: 'zod 3.25.76 → 4.6.7 (major)' });
    expect(byId.deps?.title).toMatch(/^2 locked packages change \(1 removed, 1 major/);
    expect(byId.deps?.details).toContain('left-pad 1.3.0 (removed)');
    // The npm cache of this machine holds the fixture's packages (the rig installs them offline).
    expect(byId['deps:cache']?.severity).toBe('info');
    expect(out.preview.refused).toContain(`--accept ${MIGRATION}`);
    expect(out.preview.refused).toContain('--accept env:LEGACY_REGION');
    expect(out.preview.refused).toContain(`targets.${sb.target}.analysis.accept`);
    expect(r.stdout + r.stderr).not.toContain(sb.secret);

    const human = await runCli(planArgs());
    expect(human.code).toBe(2);
    expect(human.stdout).toContain(`BLOCK ${MIGRATION}: migration 20261101_add_orders was added`);
    expect(human.stdout).toContain('warn  env-unknown:NEW_FLAG');
    expect(human.stdout).toContain('This rollback would be refused');
  });

  test('accepting one blocking finding leaves the other; accepting both, the plan would go on', async () => {
    const one = await runCli([...planArgs(), '--accept', MIGRATION]);
    expect(one.code).toBe(2);
    expect(one.stdout).toContain(`block (accepted) ${MIGRATION}`);
    expect(one.stdout).toContain('BLOCK env:LEGACY_REGION');
    const both = await runCli([...planArgs(), '--accept', MIGRATION, 'env:LEGACY_REGION']);
    expect(both.code).toBe(0);
    expect(both.stdout).toContain('`rollback start` would go on');
    const bad = await runCli([...planArgs(), '--accept', 'env:$(reboot)']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a finding id');
  });

  test('a complete rollback is analysed commit by commit: what reverting v1.31.0 undoes', async () => {
    const commit = (await git(['rev-parse', 'v1.31.0^{commit}'], sb.deployPath)).trim();
    const r = await runCli([
      '--config',
      sb.configFile,
      'plan',
      'complete',
      '--target',
      sb.target,
      '--commit',
      commit,
      '--json',
    ]);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as {
      preview: { findings: { id: string; severity: string; title: string; details?: string[] }[] };
    };
    const byId = Object.fromEntries(out.preview.findings.map((f) => [f.id, f]));
    // The revert drops the migration the commit added, and brings back the key it dropped.
    expect(byId[MIGRATION]?.severity).toBe('block');
    expect(byId['env:LEGACY_REGION']?.severity).toBe('block');
    // NEW_FLAG was documented by the reverted commit only: known, not required, not flagged.
    expect(byId['env-unknown:NEW_FLAG']).toBeUndefined();
    expect(byId['dep:zod']?.title).toBe('zod 3.25.76 → 4.6.7 (major)');
    expect(byId.commits?.details).toEqual([expect.stringMatching(/^[0-9a-f]{7,} .+: release 1\.31\.0$/)]);
  });

  test('--offline prints the plan without running its checks', async () => {
    const r = await runCli([...planArgs(), '--offline']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Analyse what the rollback changes');
    expect(r.stdout).not.toContain('Read-only checks, run now');
  });
});

describe('rollback start refuses before anything changes, and records the findings it accepted', () => {
  test('refused with exit 2 and nothing touched; accepted, the rollback runs and the reports hold the findings, not the secret', async () => {
    const args = ['--config', sb.configFile, 'start', 'emergency', '--target', sb.target, '--to', 'v1.30.0'];
    const refused = await runCli([
      ...args,
      '--reason',
      'v1.31.0 drops orders',
      '--task-queue',
      suite.taskQueue,
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('the pre-flight analysis refuses this rollback');
    expect(refused.stderr).toContain(MIGRATION);
    expect(await gitDescribe(sb.deployPath)).toBe('v1.31.0');
    expect(existsSync(sb.backupDir)).toBe(false);
    expect(existsSync(sb.reportsDir)).toBe(false);

    // An approval gate and a webhook: the approvers' notice carries the findings.
    const receiver = await startReceiver();
    suite.defer('the webhook receiver', () => receiver.close());
    const config = parse(readFileSync(sb.configFile, 'utf8')) as Record<string, any>;
    Object.assign(config.targets[sb.target], {
      approval: { required: { emergency: true }, approvers: ['bob'] },
      notify: { channels: [{ type: 'webhook', name: 'ops', url: `${receiver.url}/hook` }] },
    });
    writeFileSync(sb.configFile, stringify(config));
    const ok = await runCli([
      ...args,
      '--reason',
      'v1.31.0 drops orders',
      '--accept',
      MIGRATION,
      'env:LEGACY_REGION',
      '--as',
      'alice',
      '--task-queue',
      suite.taskQueue,
    ]);
    expect(ok.code).toBe(0);
    // The warnings are said when it starts.
    expect(ok.stderr).toContain('warn  env-unknown:NEW_FLAG');
    const notice = await eventually('the awaiting-approval notice', () =>
      receiver.bodies.find((b) => b.body?.type === 'awaiting-approval'),
    );
    expect(notice.body.findings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^block \(accepted\) migration:20261101_add_orders: migration 20261101_add_orders was added after /,
        ),
        expect.stringMatching(/^warn {2}env-unknown:NEW_FLAG: /),
        expect.stringMatching(/^warn {2}dep:zod: zod 3\.25\.76 → 4\.6\.7 \(major\)$/),
      ]),
    );
    await suite.client.act(`rollback-${sb.target}`, 'approve', { by: 'bob' });
    const { record } = await suite.client.result(`rollback-${sb.target}`);
    expect(record?.status).toBe('succeeded');
    expect(record?.findings?.map((f) => f.id)).toEqual(
      expect.arrayContaining([MIGRATION, 'env:LEGACY_REGION']),
    );
    expect(await gitDescribe(sb.deployPath)).toBe('v1.30.0');

    const reports = readTree(sb.reportsDir);
    const incident = reports.find((t) => t.startsWith('# Incident'))!;
    expect(incident).toContain('## Pre-flight analysis');
    expect(incident).toContain(`block (accepted) ${MIGRATION}`);
    const analysis = reports.find((t) => t.startsWith('# Post-rollback analysis'))!;
    expect(analysis).toContain('warn  dep:zod: zod 3.25.76 → 4.6.7 (major)');
    for (const text of [...reports, ok.stdout, ok.stderr, JSON.stringify(receiver.bodies)])
      expect(text).not.toContain(sb.secret);

    const history = await suite.client.client.workflow.getHandle(`rollback-${sb.target}`).fetchHistory();
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    expect(bytes.includes(Buffer.from(sb.secret))).toBe(false);
    // Key names are what the analysis shows; the key's value never.
    expect(bytes.includes(Buffer.from('NEW_FLAG'))).toBe(true);
    expect(bytes.includes(Buffer.from('eu-west-1'))).toBe(false);
  });
});
