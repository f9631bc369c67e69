import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RollbackAlreadyRunningError } from '../src/client';
import { BAD_VERSION, git, gitDescribe } from './rig/fixture-repo';
import { rollbackSuite } from './rig/suite';
import { health, pm2Status, waitForHttp, type Sandbox, pm2Pid } from './rig/sandbox';
import { runCli, startRollback } from './rig/rollback';

const suite = rollbackSuite('compensation');

/** The service is back where it was before the rollback: the bad release, running. */
async function expectBackOnBadRelease(sb: Sandbox, envBefore: string) {
  expect(await gitDescribe(sb.deployPath)).toBe(`v${BAD_VERSION}`);
  expect(pm2Status(sb.pm2Home, `lightdash-${sb.target}`)).toBe('online');
  await waitForHttp(`http://127.0.0.1:${sb.port}/health`);
  expect((await health(sb.port)).body.version).toBe(BAD_VERSION);
  expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).toBe(envBefore);
}

describe('a rollback step that fails for good', () => {
  test('a tag missing from the remote is refused before anything is written: the service is never stopped', async () => {
    const sb = await suite.sandbox({ name: 'comp-tag' });
    const pidBefore = pm2Pid(sb);
    const started = await startRollback(suite.client, sb, { toVersion: 'v9.9.9' });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(false);
    expect(result.error).toContain('refused: v9.9.9 is not a tag, branch or commit');
    expect(result.error).toContain('nothing was changed');
    const record = result.record!;
    expect(record.status).toBe('refused');
    expect(record.failure).toMatchObject({ stepId: 'resolve', type: 'RefNotFound' });
    // Not retried: a missing tag does not appear by retrying.
    expect(record.steps.find((s) => s.id === 'resolve')).toMatchObject({
      state: 'failed',
      attempts: 1,
      errorType: 'RefNotFound',
    });
    // Only the read-only checks ran: no incident, no backup, no stop, no report.
    expect(record.steps.filter((s) => s.state !== 'pending').map((s) => s.id)).toEqual([
      'inspect',
      'resolve',
    ]);
    expect(record.undos).toEqual([]);
    expect(existsSync(sb.reportsDir)).toBe(false);
    expect(existsSync(sb.backupDir)).toBe(false);
    // The same process, never stopped or restarted, on the same release.
    expect(pm2Pid(sb)).toBe(pidBefore);
    expect(await gitDescribe(sb.deployPath)).toBe(`v${BAD_VERSION}`);
  });

  test('npm ci fails on the target release: the undos put the old checkout, config and process back', async () => {
    const sb = await suite.sandbox({ name: 'comp-npm' });
    // A release whose package.json and lock file disagree: `npm ci` refuses it, every time.
    const pkgFile = join(sb.work, 'package.json');
    await git(['checkout', '-q', 'v1.11.4'], sb.work);
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {
      version: string;
      dependencies: Record<string, string>;
    };
    pkg.version = '1.11.5';
    pkg.dependencies['is-number'] = '7.0.0';
    writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n');
    await git(['commit', '-qam', 'release 1.11.5 (lock file out of sync)'], sb.work);
    await git(['tag', '-a', 'v1.11.5', '-m', 'v1.11.5'], sb.work);
    await git(['push', '-q', 'origin', 'v1.11.5'], sb.work);

    const envBefore = readFileSync(join(sb.deployPath, '.env'), 'utf8');
    const started = await startRollback(suite.client, sb, { toVersion: 'v1.11.5' });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/failed at step "Install dependencies \(npm ci/);
    expect(result.error).toMatch(/npm ci.*exited 1/s);
    const record = result.record!;
    expect(record.failure).toMatchObject({ stepId: 'install' });
    expect(record.steps.find((s) => s.id === 'install')).toMatchObject({ state: 'failed', attempts: 3 });
    expect(record.status).toBe('compensated');
    expect(record.undos.map((u) => u.activity)).toEqual([
      'checkoutRef',
      'restoreConfigFiles',
      'runInstall',
      'startService',
    ]);
    await expectBackOnBadRelease(sb, envBefore);
  });

  test('two starts on one target: the second is refused naming the first, the first finishes', async () => {
    const sb = await suite.sandbox({ name: 'comp-twice' });
    const first = await startRollback(suite.client, sb);
    const second = startRollback(suite.client, sb, { requestedBy: 'carol' });
    await expect(second).rejects.toBeInstanceOf(RollbackAlreadyRunningError);
    await expect(second).rejects.toThrow(
      `a rollback of target "${sb.target}" is already running: ${first.workflowId} (run ${first.runId})`,
    );
    const cli = await runCli([
      '--config',
      sb.configFile,
      'start',
      'emergency',
      '-t',
      sb.target,
      '--reason',
      'again',
      '--task-queue',
      suite.taskQueue,
    ]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain(`already running: ${first.workflowId}`);
    const result = await suite.client.result(first.workflowId, first.runId);
    expect(result.ok).toBe(true);
    expect(result.record!.requestedBy).toBe('alice');
  });
});

test('a release that crashes at start: the start step fails after its retries, naming pm2, and the old release runs again', async () => {
  const sb = await suite.sandbox({
    name: 'comp-crash',
    extraTags: [{ tag: 'v1.21.0', failureMode: 'crash' }],
    // The release dies once Node has loaded it: on a loaded machine that can take longer than the
    // default 1 s grace, and the health check (not the start) would catch it. Give the start room.
    configure: (t) => {
      t.service.startGraceSeconds = 5;
    },
  });
  const envBefore = readFileSync(join(sb.deployPath, '.env'), 'utf8');
  const started = await startRollback(suite.client, sb, { toVersion: 'v1.21.0' });
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.ok).toBe(false);
  expect(result.error).toContain(`failed at step "Start pm2 process lightdash-${sb.target}"`);
  expect(result.error).toContain('did not stay up');
  const record = result.record!;
  expect(record.failure).toMatchObject({ stepId: 'start' });
  expect(record.steps.find((s) => s.id === 'start')).toMatchObject({ state: 'failed', attempts: 3 });
  // The start's own undo (stop) runs first, then everything before it, back to the old release.
  expect(record.undos.map((u) => u.activity)).toEqual([
    'stopService',
    'restoreConfigFiles',
    'checkoutRef',
    'restoreConfigFiles',
    'runInstall',
    'startService',
  ]);
  expect(record.status).toBe('compensated');
  await expectBackOnBadRelease(sb, envBefore);
});
