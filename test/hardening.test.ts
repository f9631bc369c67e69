import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActivities } from '../src/activities';
import { eventually, GiveUp } from './rig/eventually';
import { BAD_TAG, BAD_VERSION, git, gitDescribe, GOOD_TAG } from './rig/fixture-repo';
import { parse, stringify } from 'yaml';
import type { FailureMode } from './rig/fixture-repo';
import { health, pm2Pid } from './rig/sandbox';
import { ROOT, runCli, startReceiver, startRollback } from './rig/rollback';
import { rollbackSuite } from './rig/suite';

const suite = rollbackSuite('hardening');

describe('a command-managed service that dies at once fails the start step', () => {
  test('a release that exits right after its start command: "start" fails (not a health check later), and the undos bring the old release back', async () => {
    const sb = await suite.sandbox({
      name: 'hard-cmd-crash',
      manager: 'command',
      badMode: 'none',
      extraTags: [{ tag: 'v1.30.0', failureMode: 'crash' as FailureMode }],
      // Long enough for a loaded machine to load the release and watch it die.
      configure: (t) => {
        t.service.startGraceSeconds = 5;
      },
    });
    const started = await startRollback(suite.client, sb, { toVersion: 'v1.30.0' });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(false);
    const record = result.record!;
    expect(record.failure?.stepId).toBe('start');
    expect(record.steps.find((s) => s.id === 'start')?.lastError).toContain(
      'stopped again within 5 s of its start',
    );
    // The failure is the start's, where it happened: the health check that ran beside the start's
    // watch (and may have given up on the dead release first) is not blamed, and nothing after the
    // validation ran.
    expect(['failed', 'pending']).toContain(record.steps.find((s) => s.id === 'validate-health')?.state);
    expect(record.decisions.map((d) => d.stepId)).toEqual(['start']);
    expect(record.status).toBe('compensated');
    expect(await gitDescribe(sb.deployPath)).toBe(`v${BAD_VERSION}`);
    expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: BAD_VERSION });
  });
});

describe('backups are as private as what they hold', () => {
  test('a 0644 .env is backed up 0600 inside a 0700 folder, and restored with its own mode', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rb-backup-mode-'));
    const deploy = join(root, 'srv');
    const backupPath = join(root, 'backups', 'r1');
    mkdirSync(deploy);
    writeFileSync(join(deploy, '.env'), 'API_KEY=canary-0644\n');
    chmodSync(join(deploy, '.env'), 0o644);
    const acts = createActivities();
    const backup = await acts.backupFiles({ path: deploy, files: ['.env'], backupPath });
    expect(backup.data.files).toEqual([expect.objectContaining({ file: '.env', mode: 0o644 })]);
    expect(statSync(join(backupPath, 'files', '.env')).mode & 0o777).toBe(0o600);
    expect(statSync(join(backupPath, 'manifest.json')).mode & 0o777).toBe(0o600);
    expect(statSync(backupPath).mode & 0o777).toBe(0o700);

    writeFileSync(join(deploy, '.env'), 'API_KEY=overwritten\n');
    chmodSync(join(deploy, '.env'), 0o600);
    await acts.restoreConfigFiles({ path: deploy, files: ['.env'], backupPath, untrackedOnly: false });
    expect(readFileSync(join(deploy, '.env'), 'utf8')).toBe('API_KEY=canary-0644\n');
    expect(statSync(join(deploy, '.env')).mode & 0o777).toBe(0o644);
  });
});

describe('file steps stay inside the deploy path', () => {
  test('a plan naming a file outside it (one the config refuses) is refused by the backup, the flags and the restore: BadInput, nothing written', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rb-outside-'));
    const deploy = join(root, 'a', 'srv');
    const backupPath = join(root, 'backups', 'r1');
    mkdirSync(deploy, { recursive: true });
    writeFileSync(join(root, 'outside.env'), 'OUT=1\n');
    const acts = createActivities();
    for (const file of ['../../outside.env', '/etc/hostname', '']) {
      const refused = {
        type: 'BadInput',
        nonRetryable: true,
        message: expect.stringContaining('is not a path inside'),
      };
      await expect(
        acts.backupFiles({ path: deploy, files: ['.env', file], backupPath }),
      ).rejects.toMatchObject(refused);
      await expect(
        acts.setEnvFlags({ path: deploy, envFile: file, flags: { NEW_UI: 'false' } }),
      ).rejects.toMatchObject(refused);
      await expect(
        acts.restoreConfigFiles({ path: deploy, files: [file], backupPath, untrackedOnly: false }),
      ).rejects.toMatchObject(refused);
    }
    expect(readFileSync(join(root, 'outside.env'), 'utf8')).toBe('OUT=1\n');
    expect(existsSync(join(root, 'backups'))).toBe(false);
    rmSync(root, { recursive: true, force: true });
  });
});

describe('--to the version that already runs', () => {
  test('is refused before anything is written, naming the version; with force it is redeployed', async () => {
    const sb = await suite.sandbox({ name: 'hard-same', badMode: 'none' });
    const pidBefore = pm2Pid(sb);
    const refused = await startRollback(suite.client, sb, { toVersion: `v${BAD_VERSION}` });
    const r1 = await suite.client.result(refused.workflowId, refused.runId);
    expect(r1.ok).toBe(false);
    expect(r1.record?.status).toBe('refused');
    expect(r1.record?.failure).toMatchObject({ stepId: 'resolve', type: 'AlreadyOnVersion' });
    expect(r1.error).toContain(`already runs v${BAD_VERSION}`);
    expect(r1.error).toContain('--force');
    expect(existsSync(sb.reportsDir)).toBe(false);
    expect(existsSync(sb.backupDir)).toBe(false);
    expect(pm2Pid(sb)).toBe(pidBefore);

    const forced = await startRollback(suite.client, sb, { toVersion: `v${BAD_VERSION}`, force: true });
    const r2 = await suite.client.result(forced.workflowId, forced.runId);
    expect(r2.error).toBeUndefined();
    expect(r2.record?.status).toBe('succeeded');
    expect(pm2Pid(sb)).not.toBe(pidBefore); // stopped and started again
    expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: BAD_VERSION });
  });
});

describe('rollback start returns only once the read-only checks passed', () => {
  test('a tag missing from the remote: exit 2 naming the version, nothing written, nothing notified, the service untouched', async () => {
    const receiver = await startReceiver();
    suite.defer('the receiver', () => receiver.close());
    const sb = await suite.sandbox({
      name: 'hard-cli-tag',
      configure: (t) => {
        t.notify = { channels: [{ type: 'webhook', name: 'ops', url: `${receiver.url}/hook` }] };
      },
    });
    const pidBefore = pm2Pid(sb);
    const args = ['--config', sb.configFile, 'start', 'emergency', '--target', sb.target];
    const cli = await runCli([
      ...args,
      '--to',
      'v9.9.9',
      '--reason',
      'bad tag',
      '--task-queue',
      suite.taskQueue,
    ]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('v9.9.9 is not a tag, branch or commit');
    expect(existsSync(sb.reportsDir)).toBe(false);
    expect(existsSync(sb.backupDir)).toBe(false);
    expect(receiver.bodies).toEqual([]);
    expect(pm2Pid(sb)).toBe(pidBefore);

    // The version that already runs: refused the same way, naming --force.
    const same = await runCli([
      ...args,
      '--to',
      `v${BAD_VERSION}`,
      '--reason',
      'x',
      '--task-queue',
      suite.taskQueue,
    ]);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain(`already runs v${BAD_VERSION}`);
    expect(same.stderr).toContain('--force');

    // A good request: start prints what the checks found and returns while the rollback runs on.
    const ok = await runCli([
      ...args,
      '--reason',
      'v1.20.2 is broken',
      '--task-queue',
      suite.taskQueue,
      '--json',
    ]);
    expect(ok.code).toBe(0);
    const started = JSON.parse(ok.stdout) as {
      workflowId: string;
      runId: string;
      checks: { fromVersion: string; toVersion: string };
    };
    expect(started.checks).toMatchObject({ fromVersion: `v${BAD_VERSION}`, toVersion: 'v1.11.4' });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.record?.status).toBe('succeeded');
  });

  test('a complete rollback of a commit not on the branch, an empty range or a branch the remote lacks: exit 2, nothing written', async () => {
    const sb = await suite.sandbox({
      name: 'hard-cli-commits',
      configure: (t) => {
        t.approval = { required: { complete: false } };
      },
    });
    const older = (await git(['rev-parse', `${GOOD_TAG}^{commit}`], sb.remote)).trim();
    const newer = (await git(['rev-parse', `${BAD_TAG}^{commit}`], sb.remote)).trim();
    const pidBefore = pm2Pid(sb);
    const complete = (config: string, commit: string) =>
      runCli([
        '--config',
        config,
        'start',
        'complete',
        '--target',
        sb.target,
        '--commit',
        commit,
        '--reason',
        'revert it',
        '--task-queue',
        suite.taskQueue,
      ]);
    const cases: [string, string][] = [
      ['deadbeef', 'deadbeef is not a commit of origin'],
      [`${newer}..${older}`, `the range ${newer}..${older} holds no commits: write it OLDER..NEWER`],
    ];
    for (const [commit, message] of cases) {
      const r = await complete(sb.configFile, commit);
      expect({ commit, code: r.code, stderr: r.stderr }).toMatchObject({
        code: 2,
        stderr: expect.stringContaining(message),
      });
    }
    const config = JSON.parse(JSON.stringify(parse(readFileSync(sb.configFile, 'utf8')))) as Record<
      string,
      any
    >;
    config.targets[sb.target].deploy.branch = 'release';
    const otherBranch = join(sb.root, 'other-branch.yaml');
    writeFileSync(otherBranch, stringify(config));
    const r = await complete(otherBranch, newer);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('branch release is not on origin');
    expect(existsSync(sb.reportsDir)).toBe(false);
    expect(existsSync(sb.backupDir)).toBe(false);
    expect(pm2Pid(sb)).toBe(pidBefore);
  });
});

describe('a notification channel the worker cannot deliver', () => {
  test('rollback worker names the unset urlEnv variable at start-up', async () => {
    const sb = await suite.sandbox({
      name: 'hard-urlenv',
      startBad: false,
      configure: (t) => {
        t.notify = { channels: [{ type: 'slack', name: 'oncall', urlEnv: 'ROLLBACK_TEST_UNSET_WEBHOOK' }] };
      },
    });
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin', 'rollback.js'),
        '--config',
        sb.configFile,
        'worker',
        '--task-queue',
        `${suite.taskQueue}-w`,
      ],
      { env: { ...process.env, ROLLBACK_TEST_UNSET_WEBHOOK: '' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    suite.defer('the worker process', () => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await eventually(
      'the worker warning about ROLLBACK_TEST_UNSET_WEBHOOK',
      () => {
        if (child.exitCode !== null) throw new GiveUp(`the worker exited (${child.exitCode}): ${stderr}`);
        return stderr.includes('ROLLBACK_TEST_UNSET_WEBHOOK');
      },
      60_000,
    );
    expect(stderr).toContain(
      `warning: targets.${sb.target}.notify: channel oncall will not be delivered: ROLLBACK_TEST_UNSET_WEBHOOK is unset`,
    );
  });
});
