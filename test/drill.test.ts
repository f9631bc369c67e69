/**
 * Rollback drills on sandboxes built like real deployments (git remote, npm ci --offline, pm2),
 * each rolled back by the real workflow on the real Temporal dev server.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { buildProgram } from '../src/cli/main';
import type { CliIo } from '../src/cli/report';
import type { DrillResult } from '../src/drill/run';
import { ConfigError } from '../src/targets/load';
import { GOOD_TAG, GOOD_VERSION, git, gitDescribe } from './rig/fixture-repo';
import { listToolsHttp, listToolsStdio } from './rig/rollback';
import { FIXTURE_TOOLS, health, pm2Status, waitForHttp, type Sandbox, pm2, pm2Pid } from './rig/sandbox';
import { rollbackSuite } from './rig/suite';

const suite = rollbackSuite('drill');

function editConfig(sb: Sandbox, edit: (config: Record<string, any>) => void) {
  const config = parse(readFileSync(sb.configFile, 'utf8')) as Record<string, any>;
  edit(config);
  writeFileSync(sb.configFile, stringify(config));
}

/**
 * A healthy sandbox: the rig deploys v1.20.2 (the bad release); this puts the copy on v1.11.4,
 * starts it under pm2 the way an operator would, and marks the target a sandbox.
 */
async function healthySandbox(name: string): Promise<Sandbox> {
  const sb = await suite.sandbox({ name, startBad: false });
  await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', GOOD_TAG], sb.deployPath);
  pm2(
    sb.pm2Home,
    ['start', join(sb.deployPath, 'server.js'), '--name', `lightdash-${sb.target}`, '--cwd', sb.deployPath],
    {
      PORT: String(sb.port),
    },
  );
  await waitForHttp(`http://127.0.0.1:${sb.port}/health`);
  expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
  editConfig(sb, (c) => (c.targets[sb.target].sandbox = true));
  return sb;
}

/** `rollback drill ...` in this process, as main.ts will run it once it registers the command. */
async function drillCli(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const io = { stdout: '', stderr: '', exitCode: 0 };
  const sink: CliIo = {
    stdout: (t) => void (io.stdout += t),
    stderr: (t) => void (io.stderr += t),
    setExitCode: (c) => void (io.exitCode = c),
  };
  const program = buildProgram(sink);
  await program.parseAsync(args, { from: 'user' });
  return io;
}

async function drill(sb: Sandbox, scenario: string, extra: string[] = []): Promise<DrillResult> {
  const r = await drillCli([
    '--config',
    sb.configFile,
    'drill',
    '--target',
    sb.target,
    '--scenario',
    scenario,
    '--as',
    'carol',
    '--task-queue',
    suite.taskQueue,
    '--json',
    ...extra,
  ]);
  const result = JSON.parse(r.stdout) as DrillResult;
  expect(r.exitCode).toBe(result.recovered ? 0 : 1);
  return result;
}

/** Recovered, judged from outside the product: health, version, tools over both transports, pm2, git. */
async function expectRecovered(sb: Sandbox, result: DrillResult) {
  expect(result.rollbackError).toBeNull();
  expect(result.rollbackStatus).toBe('succeeded');
  expect(result.recovered).toBe(true);
  expect(result.timeToRestoreMs).toBeGreaterThan(0);
  expect(result.phases.map((p) => p.phase)).toEqual([
    'baseline',
    'prepare',
    'break',
    'confirm broken',
    'rollback',
    'verify recovery',
  ]);
  expect(result.checks.map((c) => [c.check, c.ok])).toEqual([
    ['health', true],
    ['MCP over http', true],
    ['MCP over stdio', true],
  ]);
  expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
  expect(pm2Status(sb.pm2Home, `lightdash-${sb.target}`)).toBe('online');
  expect(await gitDescribe(sb.deployPath)).toBe(GOOD_TAG);
  expect(await listToolsHttp(sb.port)).toHaveLength(FIXTURE_TOOLS);
  expect(await listToolsStdio(sb.deployPath)).toHaveLength(FIXTURE_TOOLS);
  expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).toContain(`LIGHTDASH_API_KEY=${sb.secret}`);
  // The drill's own report sits next to the rollback's, with the time to restore.
  const report = readFileSync(join(sb.reportsDir, result.rollbackId, 'drill.md'), 'utf8');
  expect(report).toMatch(/time to restore +[\d.]+ s +from rollback start to verified healthy/);
  expect(existsSync(join(sb.reportsDir, result.rollbackId, 'analysis.md'))).toBe(true);
  expect(report).not.toContain(sb.secret);
}

describe('rollback drills on a sandbox', () => {
  test('bad-release: deploys the newest bad tag, the emergency rollback brings v1.11.4 back', async () => {
    const sb = await healthySandbox('drill-bad');
    const result = await drill(sb, 'bad-release');
    expect(result.broken).toBe(true);
    expect(result.phases.find((p) => p.phase === 'break')!.detail).toMatch(
      /^deployed v1\.20\.2 \(checkout, npm ci --offline --no-audit --no-fund\); restarted pm2 process/,
    );
    expect(result.phases.find((p) => p.phase === 'confirm broken')!.detail).toContain(
      'health: HTTP 503 unhealthy (release is marked unhealthy)',
    );
    await expectRecovered(sb, result);
  });

  test('corrupted-env: .env overwritten; the rollback restores it from the release config it saved first', async () => {
    const sb = await healthySandbox('drill-env');
    const result = await drill(sb, 'corrupted-env');
    const saved = join(sb.backupDir, 'releases', GOOD_TAG, '.env');
    expect(result.phases.find((p) => p.phase === 'prepare')!.detail).toBe(
      `saved the healthy sandbox's .env as the release config of ${GOOD_TAG} (${saved})`,
    );
    expect(statSync(saved).mode & 0o777).toBe(0o600);
    expect(result.broken).toBe(true);
    expect(result.phases.find((p) => p.phase === 'confirm broken')!.detail).toContain(
      'LIGHTDASH_API_KEY is not set',
    );
    await expectRecovered(sb, result);
    // Byte for byte, with its private mode.
    expect(statSync(join(sb.deployPath, '.env')).mode & 0o777).toBe(0o600);
  });

  test('corrupted-node-modules: dependencies garbled; npm ci in the rollback reinstalls them', async () => {
    const sb = await healthySandbox('drill-deps');
    // Garbled dependencies kill the service once Node loads them: on a loaded machine that can be
    // later than the default 1 s start grace, and the restart would pass. Give it room.
    editConfig(sb, (c) => (c.targets[sb.target].service.startGraceSeconds = 5));
    const result = await drill(sb, 'corrupted-node-modules');
    expect(result.phases.find((p) => p.phase === 'break')!.detail).toMatch(
      /^garbled the package\.json of 2 dependencies in node_modules \(@modelcontextprotocol\/sdk, zod\); restart failed as the damage intends/,
    );
    expect(result.broken).toBe(true);
    await expectRecovered(sb, result);
    for (const dep of ['zod', '@modelcontextprotocol/sdk']) {
      expect(() =>
        JSON.parse(readFileSync(join(sb.deployPath, 'node_modules', dep, 'package.json'), 'utf8')),
      ).not.toThrow();
    }
  });

  // Needs the emergency plan to discard local changes of tracked files (checkoutRef
  // discardLocalChanges: `git checkout --force`, also when HEAD is already the target commit).
  test('corrupted-entry: server.js truncated; the rollback checks the release out again, discarding the damage', async () => {
    const sb = await healthySandbox('drill-entry');
    const result = await drill(sb, 'corrupted-entry');
    expect(result.phases.find((p) => p.phase === 'break')!.detail).toMatch(
      new RegExp(
        `^truncated ${join(sb.deployPath, 'server.js').replace(/[.]/g, '\\.')} from \\d+ to \\d+ bytes`,
      ),
    );
    expect(result.broken).toBe(true);
    await expectRecovered(sb, result);
    expect(await git(['status', '--porcelain', '--untracked-files=no'], sb.deployPath)).toBe('');
  });
});

describe('drills refuse what is not a sandbox, and change nothing', () => {
  test('a target without sandbox: true is refused before anything is touched', async () => {
    const sb = await healthySandbox('drill-real');
    editConfig(sb, (c) => delete c.targets[sb.target].sandbox);
    const envBefore = readFileSync(join(sb.deployPath, '.env'), 'utf8');
    const pidBefore = pm2Pid(sb);
    const run = drillCli([
      '--config',
      sb.configFile,
      'drill',
      '--target',
      sb.target,
      '--scenario',
      'corrupted-env',
    ]);
    await expect(run).rejects.toBeInstanceOf(ConfigError);
    await expect(run).rejects.toThrow(
      `target "${sb.target}" is not a sandbox: a drill breaks its target on purpose, so it runs only on a sandbox copy`,
    );
    expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).toBe(envBefore);
    expect(pm2Pid(sb)).toBe(pidBefore);
    expect((await health(sb.port)).status).toBe(200);
    await expect(suite.client.describe(`rollback-${sb.target}`)).rejects.toThrow(/not found/i);
  });

  test('a sandbox that shares its deployment with a real target is refused; so is an unknown scenario', async () => {
    const sb = await healthySandbox('drill-shared');
    editConfig(sb, (c) => {
      c.targets['real-one'] = { ...c.targets[sb.target], sandbox: undefined, backupDir: '/var/backups/real' };
      delete c.targets['real-one'].sandbox;
    });
    await expect(
      drillCli(['--config', sb.configFile, 'drill', '--target', sb.target, '--scenario', 'bad-release']),
    ).rejects.toThrow(
      `sandbox target "${sb.target}" shares deploy.path ${sb.deployPath} with target "real-one", which is not a sandbox`,
    );
    await expect(
      drillCli(['--config', sb.configFile, 'drill', '--target', sb.target, '--scenario', 'meteor-strike']),
    ).rejects.toThrow(
      'unknown drill scenario "meteor-strike"; use one of: bad-release, corrupted-env, corrupted-node-modules, corrupted-entry',
    );
    expect(await gitDescribe(sb.deployPath)).toBe(GOOD_TAG);
    await expect(suite.client.describe(`rollback-${sb.target}`)).rejects.toThrow(/not found/i);
  });
});
