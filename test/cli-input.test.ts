import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RollbackClient } from '../src/client';
import { connectClient, testTaskQueue } from './rig/temporal';
import { runCli } from './rig/rollback';

/**
 * Bad input never starts anything: every case below runs the real CLI against the real server,
 * then checks that no workflow exists for the target and that no backup folder was made.
 */
const root = mkdtempSync(join(tmpdir(), 'rb-input-'));
const taskQueue = testTaskQueue('input');
let client: RollbackClient;

function validTarget(name: string, deployPath: string) {
  return {
    deploy: { type: 'git', path: deployPath, stableVersion: 'v1.11.4' },
    service: { manager: 'command', start: ['true'], stop: ['true'], status: ['true'] },
    backupDir: join(root, name, 'backups'),
    reportsDir: join(root, name, 'reports'),
    validate: { health: { url: 'http://127.0.0.1:9/health' } },
  };
}

function writeConfig(name: string, body: string): string {
  const file = join(root, `${name}.yaml`);
  writeFileSync(file, body);
  return file;
}

const deployPath = join(root, 'srv');
mkdirSync(deployPath);
spawnSync('git', ['init', '-q', deployPath]);

beforeAll(async () => {
  client = await connectClient(taskQueue);
});

afterAll(async () => {
  await client.close();
  rmSync(root, { recursive: true, force: true });
});

async function expectNothingStarted(target: string) {
  await expect(client.describe(`rollback-${target}`)).rejects.toThrow(/not found/i);
  expect(existsSync(join(root, target, 'backups'))).toBe(false);
}

async function start(config: string, target: string, extra: string[] = []) {
  return runCli([
    '--config',
    config,
    'start',
    'emergency',
    '--target',
    target,
    '--reason',
    'test',
    '--task-queue',
    taskQueue,
    ...extra,
  ]);
}

describe('bad input gets a clear error, a non-zero exit, and starts nothing', () => {
  test('malformed YAML names the file and the line', async () => {
    const config = writeConfig('malformed', 'version: 1\ntargets:\n  svc-a:\n    deploy: [unclosed\n');
    const r = await start(config, 'svc-a');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(config);
    expect(r.stderr).toMatch(/malformed YAML at line \d+/);
    await expectNothingStarted('svc-a');
  });

  test('an unknown target lists the known ones', async () => {
    const config = writeConfig(
      'unknown-target',
      stringify({ version: 1, targets: { 'svc-b': validTarget('svc-b', deployPath) } }),
    );
    const r = await start(config, 'svc-nope');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown target "svc-nope"');
    expect(r.stderr).toContain('known targets: svc-b');
    await expectNothingStarted('svc-nope');
    await expectNothingStarted('svc-b');
  });

  test('a bad config is the error shown even when no server answers (it is read before connecting)', async () => {
    const config = writeConfig(
      'unknown-target-no-server',
      stringify({ version: 1, targets: { 'svc-b2': validTarget('svc-b2', deployPath) } }),
    );
    for (const how of [
      ['--target', 'svc-nope2'],
      ['--group', 'web'],
    ]) {
      const r = await runCli(
        ['--config', config, 'start', 'emergency', ...how, '--reason', 'test', '--json'],
        // Port 1: nothing listens there.
        { TEMPORAL_ADDRESS: '127.0.0.1:1' },
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        how[0] === '--target' ? 'unknown target "svc-nope2"' : 'unknown group "web"',
      );
      expect(r.stderr).not.toContain('cannot reach');
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, exitCode: 2 });
    }
    // A good config with no server: the connection's error, exit 1.
    const r = await runCli(
      ['--config', config, 'start', 'emergency', '--target', 'svc-b2', '--reason', 'test'],
      {
        TEMPORAL_ADDRESS: '127.0.0.1:1',
      },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach 127.0.0.1:1');
    await expectNothingStarted('svc-b2');
  });

  test('an unknown field names its path in the file', async () => {
    const t = validTarget('svc-c', deployPath) as Record<string, any>;
    t.deploy.stableVerison = 'v1';
    const config = writeConfig('unknown-field', stringify({ version: 1, targets: { 'svc-c': t } }));
    const r = await start(config, 'svc-c');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('at targets.svc-c.deploy: unknown field "stableVerison"');
    const check = await runCli(['--config', config, 'config', 'check', '--json']);
    expect(check.code).toBe(2);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: false });
    await expectNothingStarted('svc-c');
  });

  test('a version like "v1; rm -rf /" is refused by plan and start', async () => {
    const config = writeConfig(
      'unsafe',
      stringify({ version: 1, targets: { 'svc-d': validTarget('svc-d', deployPath) } }),
    );
    for (const cmd of ['plan', 'start']) {
      const r =
        cmd === 'plan'
          ? await runCli([
              '--config',
              config,
              'plan',
              'emergency',
              '--target',
              'svc-d',
              '--to',
              'v1; rm -rf /',
            ])
          : await start(config, 'svc-d', ['--to', 'v1; rm -rf /']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('unsafe version "v1; rm -rf /"');
    }
    // The same rule guards the config's own stableVersion.
    const t = validTarget('svc-d', deployPath) as Record<string, any>;
    t.deploy.stableVersion = '--upload-pack=evil';
    const bad = writeConfig('unsafe-stable', stringify({ version: 1, targets: { 'svc-d': t } }));
    const r = await start(bad, 'svc-d');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('at targets.svc-d.deploy.stableVersion: must be a plain git tag');
    await expectNothingStarted('svc-d');
  });

  test('connection settings, task queues and ports the server would refuse are exit 2, named, nothing shown raw', async () => {
    const config = writeConfig(
      'settings',
      stringify({ version: 1, targets: { 'svc-q': validTarget('svc-q', deployPath) } }),
    );
    const startArgs = ['--config', config, 'start', 'emergency', '--target', 'svc-q', '--reason', 'test'];
    const cases: [string[], Record<string, string>, string][] = [
      [[...startArgs, '--task-queue', ''], {}, 'the task queue from --task-queue is empty'],
      [
        startArgs,
        { ROLLBACK_TASK_QUEUE: 'a\nb' },
        'the task queue from ROLLBACK_TASK_QUEUE holds a control character',
      ],
      [[...startArgs, '--task-queue', 'q'.repeat(1001)], {}, 'is 1001 characters long; keep it under 1001'],
      [
        ['status', 'rollback-svc-q'],
        { TEMPORAL_NAMESPACE: 'de\nfault' },
        'TEMPORAL_NAMESPACE "de\\nfault" is not a namespace name',
      ],
      [
        ['status', 'rollback-svc-q'],
        { TEMPORAL_ADDRESS: 'ops:hunter2@127.0.0.1:7233' },
        '"(user:password hidden)@127.0.0.1:7233" is not HOST:PORT',
      ],
      [['dev', '--port', 'abc'], {}, '--port "abc" is not a port number from 0 to 64535'],
      [['dev', '--port', '65000'], {}, 'from 0 to 64535'],
      [
        ['codec-server', '--port', '99999'],
        { ROLLBACK_CODEC_KEYS: '' },
        '--port "99999" is not a port number from 0 to 65535',
      ],
      [
        ['--config', config, 'plan', 'emergency', '--target', 'svc-q', '--to', 'v1\x1b]0;TITLE\x07'],
        {},
        'unsafe version "v1\\x1b]0;TITLE\\x07"',
      ],
    ];
    for (const [args, env, message] of cases) {
      const r = await runCli(args, env);
      const seen = { args: args.map((a) => a.slice(0, 40)), env, code: r.code, stderr: r.stderr };
      expect(seen).toMatchObject({ code: 2, stderr: expect.stringContaining(message) });
      expect(r.stderr).not.toContain('hunter2');
      expect(r.stderr).not.toContain('\x1b');
    }
    await expectNothingStarted('svc-q');
  });

  test('a missing deploy path is named, with what to do', async () => {
    const config = writeConfig(
      'missing',
      stringify({ version: 1, targets: { 'svc-e': validTarget('svc-e', join(root, 'nowhere')) } }),
    );
    const r = await start(config, 'svc-e');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`deploy.path ${join(root, 'nowhere')} does not exist`);
    const check = await runCli(['--config', config, 'config', 'check']);
    expect(check.code).toBe(2);
    expect(check.stderr).toContain('does not exist');
    await expectNothingStarted('svc-e');
  });

  test('an unknown rollback id is a usage error for status, watch and cancel', async () => {
    for (const cmd of ['status', 'watch', 'cancel']) {
      const r = await runCli([cmd, 'rollback-no-such-target']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('no rollback with id rollback-no-such-target; see "rollback list"');
    }
  });

  test('a failure policy that would retry forever with nobody asked is refused at plan time', async () => {
    const t = validTarget('svc-h', deployPath) as Record<string, any>;
    t.onFailure = { wait: { emergency: false }, default: { emergency: 'retry' } };
    const config = writeConfig('retry-forever', stringify({ version: 1, targets: { 'svc-h': t } }));
    const r = await start(config, 'svc-h');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('onFailure.default.emergency is retry but nobody is asked');
    await expectNothingStarted('svc-h');
  });

  test('a missing config file and an unknown kind are usage errors', async () => {
    const r1 = await runCli(['--config', join(root, 'absent.yaml'), 'plan', 'emergency', '--target', 'x']);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('does not exist (from --config)');
    const config = writeConfig(
      'kind',
      stringify({ version: 1, targets: { 'svc-f': validTarget('svc-f', deployPath) } }),
    );
    const r2 = await runCli(['--config', config, 'plan', 'sideways', '--target', 'svc-f']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('unknown rollback kind "sideways"');
  });

  test('a valid config checks clean, and plan prints the steps without touching anything', async () => {
    const config = writeConfig(
      'valid',
      stringify({ version: 1, targets: { 'svc-g': validTarget('svc-g', deployPath) } }),
    );
    const check = await runCli(['--config', config, 'config', 'check']);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('ok, 1 target: svc-g');
    // --offline: the steps alone (the working copy here is an empty repository: its checks would fail).
    const plan = await runCli([
      '--config',
      config,
      'plan',
      'emergency',
      '--target',
      'svc-g',
      '--json',
      '--offline',
    ]);
    expect(plan.code).toBe(0);
    const parsed = JSON.parse(plan.stdout) as {
      toVersion: string;
      steps: { id: string; undo: { activity: string }[] }[];
    };
    expect(parsed.toVersion).toBe('v1.11.4');
    // The read-only checks first: nothing is written before they hold.
    expect(parsed.steps.map((s) => s.id)).toEqual([
      'inspect',
      'resolve',
      'analyze',
      'incident',
      'backup',
      'stop',
      'checkout',
      'install',
      'restore-config',
      'start',
      'validate-health',
    ]);
    expect(parsed.steps.find((s) => s.id === 'checkout')!.undo.map((u) => u.activity)).toEqual([
      'checkoutRef',
      'restoreConfigFiles',
      'runInstall',
    ]);
    const human = await runCli(['--config', config, 'plan', 'emergency', '--target', 'svc-g']);
    expect(human.stdout).toContain('Check out v1.11.4');
    // Without --offline the read-only checks run: an empty repository has no deployed commit.
    expect(human.code).toBe(2);
    expect(human.stdout).toMatch(/✘ Inspect the deployed version: git rev-parse HEAD failed/);
    expect(human.stdout).toContain('This rollback would be refused');
    await expectNothingStarted('svc-g');
  });
});
