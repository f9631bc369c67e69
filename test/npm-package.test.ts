import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { pm2LogFiles } from '../src/activities/logs';
import { ApplicationFailure } from '@temporalio/common';
import { installNpmPackage, inspectNpmPackage, resolveNpmVersion } from '../src/activities/npm-package';
import { analyzeNpmPackageRollback } from '../src/activities/npm-package-analysis';
import { checkMcp } from '../src/activities/validate';
import { LOCAL_HOST } from '../src/runner/local-host';
import { BAD_VERSION, GOOD_VERSION } from './rig/fixture-repo';
import { startRegistry, type TestRegistry } from './rig/npm-registry';
import { FIXTURE_TOOLS, health, pm2, pm2Status, untilListening, type Sandbox } from './rig/sandbox';
import { listToolsHttp, runCli, startRollback } from './rig/rollback';
import { rollbackSuite } from './rig/suite';
import { deployUser } from './rig/deploy-user';
import { createSshSandbox } from './rig/ssh-sandbox';
import { startSshd, type TestSshd } from './rig/sshd';
import { eventually } from './rig/eventually';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { killHard, spawnWorkerProcess } from './rig/worker-process';

const suite = rollbackSuite('npm');

/**
 * The npm-package activities against a real registry (Verdaccio on 127.0.0.1, the fixture
 * published as the good and the bad release, dependencies bundled) and a real install prefix in a
 * temp folder: what is installed, whether a version exists, and an install that is done once.
 */

const NAME = 'lightdash-mcp';
/** A release that dies at start (fixture failureMode crash). */
const CRASH_VERSION = '1.21.0';
let registry: TestRegistry;
let prefix: string;

beforeAll(async () => {
  registry = await startRegistry();
  await registry.publishFixture({ name: NAME, version: GOOD_VERSION });
  await registry.publishFixture({ name: NAME, version: BAD_VERSION, failureMode: 'tools-missing' });
  await registry.publishFixture({ name: NAME, version: CRASH_VERSION, failureMode: 'crash' });
  prefix = mkdtempSync(join(tmpdir(), 'rollback-prefix-'));
}, 180_000);

afterAll(async () => {
  rmSync(prefix, { recursive: true, force: true });
  await registry?.stop();
});

const ref = () => ({ name: NAME, prefix, registry: registry.url });

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

test('nothing installed: inspect says so, naming the folder and the fix, and is not retried', async () => {
  const err = await failure(inspectNpmPackage(ref(), LOCAL_HOST));
  expect(err.type).toBe('PackageNotInstalled');
  expect(err.nonRetryable).toBe(true);
  expect(err.message).toContain(join(prefix, 'lib', 'node_modules', NAME));
});

test('install, inspect, resolve and reinstall: exact versions from the registry, integrity known, each install done once', async () => {
  const bad = await installNpmPackage({ ...ref(), version: BAD_VERSION }, LOCAL_HOST);
  expect(bad.data).toMatchObject({ version: BAD_VERSION, changed: true });
  const seen = await inspectNpmPackage(ref(), LOCAL_HOST);
  expect(seen.data).toEqual({ version: BAD_VERSION, dir: join(prefix, 'lib', 'node_modules', NAME) });

  const good = await resolveNpmVersion(
    { ...ref(), version: `v${GOOD_VERSION}`, current: BAD_VERSION },
    LOCAL_HOST,
  );
  expect(good.data.version).toBe(GOOD_VERSION);
  expect(good.data.integrity).toMatch(/^sha512-/);

  const missing = await failure(resolveNpmVersion({ ...ref(), version: '9.9.9' }, LOCAL_HOST));
  expect(missing.type).toBe('VersionNotFound');
  expect(missing.message).toContain(`${NAME}@9.9.9 is not in the registry`);
  const same = await failure(
    resolveNpmVersion({ ...ref(), version: BAD_VERSION, current: BAD_VERSION }, LOCAL_HOST),
  );
  expect(same.type).toBe('AlreadyOnVersion');

  const installed = await installNpmPackage({ ...ref(), version: GOOD_VERSION }, LOCAL_HOST);
  expect(installed.summary).toBe(`installed ${NAME}@${GOOD_VERSION} (was ${BAD_VERSION})`);
  // A retry after a crash finds it done and runs no npm.
  const again = await installNpmPackage({ ...ref(), version: GOOD_VERSION }, LOCAL_HOST);
  expect(again.data.changed).toBe(false);
  expect(again.summary).toBe(`${NAME}@${GOOD_VERSION} already installed`);

  // A dead worker's npm still running in the prefix (its pid file there): the version that looks
  // installed may be half written, so the orphan is ended and the version installed again.
  const orphan = spawn('sleep', ['60'], { cwd: prefix, stdio: 'ignore', detached: true });
  writeFileSync(join(prefix, '.rollback-install.pid'), String(orphan.pid));
  const exited = new Promise((r) => orphan.once('exit', r));
  const redone = await installNpmPackage({ ...ref(), version: GOOD_VERSION }, LOCAL_HOST);
  await exited;
  expect(redone.summary).toBe(
    `installed ${NAME}@${GOOD_VERSION} (was ${GOOD_VERSION}) (killed orphaned install ${orphan.pid} first)`,
  );
  expect(redone.data.changed).toBe(true);
  // One that finished by itself leaves only its pid file: cleared, and the install found done.
  writeFileSync(join(prefix, '.rollback-install.pid'), String(orphan.pid));
  expect((await installNpmPackage({ ...ref(), version: GOOD_VERSION }, LOCAL_HOST)).data.changed).toBe(false);
  expect(existsSync(join(prefix, '.rollback-install.pid'))).toBe(false);

  // The installed bin is the good release: 13 tools over stdio, reporting its version.
  const mcp = await checkMcp({
    transport: 'stdio',
    command: [join(prefix, 'bin', NAME), '--stdio'],
    env: { LIGHTDASH_API_KEY: 'not-a-secret' },
    expectedTools: FIXTURE_TOOLS,
    expectedVersion: GOOD_VERSION,
  });
  expect(mcp.data.tools).toBe(FIXTURE_TOOLS);
});

test('analysis: the target tarball from the registry against the installed folder: a missing env key and a newer migration block, an unknown key warns, no value anywhere', async () => {
  const running = '1.30.0';
  const target = '1.29.0';
  // Lower first: npm refuses to publish below the latest without a tag.
  await registry.publishFixture({
    name: NAME,
    version: target,
    bare: true,
    files: {
      '.env.example': 'LIGHTDASH_API_KEY=\nLIGHTDASH_REGION=\n# LIGHTDASH_DEBUG=\n',
      'migrations/20261001_init.sql': 'create table t ();\n',
    },
  });
  await registry.publishFixture({
    name: NAME,
    version: running,
    bare: true,
    files: {
      '.env.example': 'LIGHTDASH_API_KEY=\nLIGHTDASH_URL=\n',
      'migrations/20261001_init.sql': 'create table t ();\n',
      'migrations/20261101_add_orders.sql': 'create table orders ();\n',
    },
  });
  const own = mkdtempSync(join(tmpdir(), 'rollback-prefix-'));
  const secret = 'canary-npm-analysis-7f3a';
  try {
    const pkgRef = { name: NAME, prefix: own, registry: registry.url };
    await installNpmPackage({ ...pkgRef, version: running }, LOCAL_HOST);
    const dir = join(own, 'lib', 'node_modules', NAME);
    writeFileSync(join(dir, '.env'), `LIGHTDASH_API_KEY=${secret}\nLIGHTDASH_URL=http://x\n`);
    const resolved = await resolveNpmVersion({ ...pkgRef, version: target, current: running }, LOCAL_HOST);
    const tmpBefore = readdirSync(tmpdir()).filter((n) => n.startsWith('rollback-analysis.'));
    const input = {
      ...pkgRef,
      target: 'npm-analysis',
      accept: [] as string[],
      dir,
      toVersion: target,
      dependencies: resolved.data.dependencies,
      envFile: '.env',
      envExamples: ['.env.example', '.env.sample'],
      migrations: ['migrations/**', 'prisma/migrations/**'],
    };
    const shown = await analyzeNpmPackageRollback({ ...input, report: true }, LOCAL_HOST);
    const bySeverity = (sev: string) =>
      shown.data.findings
        .filter((f) => f.severity === sev)
        .map((f) => f.id)
        .sort();
    expect(bySeverity('block')).toEqual(['env:LIGHTDASH_REGION', 'migration:20261101_add_orders']);
    expect(bySeverity('warn')).toEqual(['env-unknown:LIGHTDASH_URL']);
    expect(bySeverity('info')).toEqual(['deps', 'deps:tarball']);
    expect(shown.data.findings.find((f) => f.id === 'migration:20261101_add_orders')!.details).toEqual([
      'migrations/20261101_add_orders.sql',
    ]);
    expect(JSON.stringify(shown)).not.toContain(secret);
    // The tarball went to a temporary folder, removed after.
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('rollback-analysis.'))).toEqual(tmpBefore);

    // Unaccepted, the blocks refuse the rollback for good, naming how to accept them.
    const refused = await failure(analyzeNpmPackageRollback(input, LOCAL_HOST));
    expect(refused.type).toBe('AnalysisBlocked');
    expect(refused.nonRetryable).toBe(true);
    expect(refused.message).toContain('--accept migration:20261101_add_orders');
    expect(refused.message).toContain('env:LIGHTDASH_REGION');
    expect(refused.message).not.toContain(secret);
    const accepted = await analyzeNpmPackageRollback(
      { ...input, accept: ['migration:20261101_add_orders', 'env:LIGHTDASH_REGION'] },
      LOCAL_HOST,
    );
    const blocks = accepted.data.findings.filter((f) => f.severity === 'block');
    expect(blocks.map((f) => [f.id, f.accepted])).toEqual([
      ['env:LIGHTDASH_REGION', true],
      ['migration:20261101_add_orders', true],
    ]);
    // Nothing of the service changed: the installed version and its .env are as they were.
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version).toBe(running);
    expect(readFileSync(join(dir, '.env'), 'utf8')).toContain(secret);
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
});

/** An npm-package sandbox: the bad release installed under a prefix of its own, run by pm2 from there. */
interface NpmSandbox extends Sandbox {
  prefix: string;
  packageDir: string;
}

/**
 * The bad release installed and started: by the test runner itself, or (`sshd` given) by the SSH
 * login in its own home, under its own pm2, the target reaching it through that sshd.
 */
async function npmSandbox(
  name: string,
  edit?: (target: Record<string, any>) => void,
  sshd?: TestSshd,
): Promise<NpmSandbox> {
  let prefix = '';
  const configure = (target: Record<string, any>) => {
    prefix = join(dirname(target.backupDir), 'npm-prefix');
    target.deploy = {
      type: 'npm-package',
      package: NAME,
      prefix,
      registry: registry.url,
      stableVersion: GOOD_VERSION,
    };
    target.configFiles = ['.env'];
    edit?.(target);
  };
  let sb: Sandbox;
  let asHost: (argv: string[], env?: Record<string, string>) => void;
  let pm2Argv: (args: string[], env: Record<string, string>) => void;
  if (sshd) {
    const user = deployUser();
    const ssb = await createSshSandbox({ name, sshd, startBad: false, configure });
    suite.defer(`ssh sandbox ${name}`, () => ssb.cleanup());
    sb = ssb;
    asHost = (argv, env) => void user.run(argv, env);
    pm2Argv = (args, env) => void user.run([...ssb.pm2, ...args], { PM2_HOME: sb.pm2Home, ...env });
  } else {
    sb = await suite.sandbox({ name, startBad: false, configure });
    asHost = (argv, env) =>
      void execFileSync(argv[0]!, argv.slice(1), { stdio: 'ignore', env: { ...process.env, ...env } });
    pm2Argv = (args, env) => void pm2(sb.pm2Home, args, env);
  }
  const packageDir = join(prefix, 'lib', 'node_modules', NAME);
  asHost([
    'npm',
    'install',
    '-g',
    '--prefix',
    prefix,
    '--registry',
    registry.url,
    '--no-audit',
    '--no-fund',
    `${NAME}@${BAD_VERSION}`,
  ]);
  const envFile = Object.entries(sb.env)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
  asHost(['sh', '-c', 'umask 077; printf "%s" "$1" > "$2"', 'sh', envFile, join(packageDir, '.env')]);
  const proc = `lightdash-${sb.target}`;
  pm2Argv(['start', join(packageDir, 'server.js'), '--name', proc, '--cwd', packageDir], {
    PORT: String(sb.port),
  });
  await untilListening(proc, sb.port, pm2LogFiles(proc, sb.pm2Home));
  expect(await listToolsHttp(sb.port)).not.toHaveLength(FIXTURE_TOOLS); // the bad release lacks tools
  return { ...sb, prefix, packageDir };
}

function installedVersion(sb: NpmSandbox): string {
  return (JSON.parse(readFileSync(join(sb.packageDir, 'package.json'), 'utf8')) as { version: string })
    .version;
}

function readTree(dir: string): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .map((n) =>
      statSync(join(dir, n)).isDirectory() ? readTree(join(dir, n)) : readFileSync(join(dir, n), 'utf8'),
    )
    .join('\n');
}

describe('npm-package rollbacks', () => {
  test('emergency: the bad version is replaced by the stable one from the registry, .env put back, healthy with 13 tools, no secret anywhere', async () => {
    const sb = await npmSandbox('npm-em');
    const envBefore = readFileSync(join(sb.packageDir, '.env'));
    const started = await startRollback(suite.client, sb);
    expect(started.plan.steps.map((s) => s.id).slice(0, 8)).toEqual([
      'inspect',
      'resolve',
      'analyze',
      'incident',
      'backup',
      'stop',
      'install',
      'restore-config',
    ]);
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.error).toBeUndefined();
    const record = result.record!;
    expect(record.status).toBe('succeeded');
    expect(record.fromVersion).toBe(BAD_VERSION);
    expect(record.toVersion).toBe(GOOD_VERSION);
    // Both versions publish the fixture's dependencies, and neither documents env keys: the
    // analysis says so, having fetched the target's tarball from the registry.
    expect(record.findings!.map((f) => [f.id, f.severity])).toEqual([
      ['deps', 'info'],
      ['deps:tarball', 'info'],
      ['env', 'info'],
    ]);
    expect(record.findings![0]!.title).toBe(
      `no declared dependencies change (${BAD_VERSION} → ${GOOD_VERSION})`,
    );
    expect(record.findings![1]!.title).toMatch(
      new RegExp(
        `^the registry serves ${NAME}@${GOOD_VERSION.replace(/\./g, '\\.')} to the host \\(\\d+ files, \\d+ kB, integrity checked\\)$`,
      ),
    );
    expect(record.steps.find((s) => s.id === 'install')!.summary).toBe(
      `installed ${NAME}@${GOOD_VERSION} (was ${BAD_VERSION})`,
    );
    expect(installedVersion(sb)).toBe(GOOD_VERSION);
    expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
    expect(await listToolsHttp(sb.port)).toHaveLength(FIXTURE_TOOLS);
    expect(pm2Status(sb.pm2Home, `lightdash-${sb.target}`)).toBe('online');
    // The install replaced the package's folder; the rollback put the host's .env back, byte for byte.
    expect(readFileSync(join(sb.packageDir, '.env')).equals(envBefore)).toBe(true);

    const history = await suite.client.client.workflow.getHandle(started.workflowId).fetchHistory();
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
    expect(bytes).not.toContain(sb.secret);
    expect(readTree(sb.reportsDir)).not.toContain(sb.secret);
    expect(readTree(sb.reportsDir)).toContain(`${BAD_VERSION} → ${GOOD_VERSION} (succeeded)`);
  });

  test('a start that fails is undone: the version that ran is reinstalled, its .env put back, and it runs again', async () => {
    const sb = await npmSandbox('npm-undo', (t) => (t.service.startGraceSeconds = 3));
    const envBefore = readFileSync(join(sb.packageDir, '.env'));
    const started = await startRollback(suite.client, sb, { toVersion: CRASH_VERSION });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(false);
    const record = result.record!;
    expect(record.failure).toMatchObject({ stepId: 'start' });
    // The start's own undo (stop), the install's (the old version, then its .env), the stop's (start).
    expect(record.undos.map((u) => u.activity)).toEqual([
      'stopService',
      'installNpmPackage',
      'restoreConfigFiles',
      'startService',
    ]);
    expect(record.status).toBe('compensated');
    expect(installedVersion(sb)).toBe(BAD_VERSION);
    expect(readFileSync(join(sb.packageDir, '.env')).equals(envBefore)).toBe(true);
    expect((await health(sb.port)).body).toMatchObject({ version: BAD_VERSION });
    expect(pm2Status(sb.pm2Home, `lightdash-${sb.target}`)).toBe('online');
  });

  test("partial: the flag is set in the installed package's .env and the service restarted; the version stays", async () => {
    const sb = await npmSandbox('npm-partial', (t) => {
      t.partial = { flags: { QURATOR: 'false' } };
      delete t.validate.mcp; // the bad release lacks tools: a partial rollback keeps it
      delete t.validate.mcpStdio;
    });
    const started = await startRollback(suite.client, sb, { kind: 'partial' });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.error).toBeUndefined();
    expect(result.record!.status).toBe('succeeded');
    expect(readFileSync(join(sb.packageDir, '.env'), 'utf8')).toContain('QURATOR=false');
    expect((await health(sb.port)).body).toMatchObject({
      version: BAD_VERSION,
      features: { qurator: false },
    });
    expect(installedVersion(sb)).toBe(BAD_VERSION);
  });

  test('a worker killed with SIGKILL during the npm install: a new worker ends the orphan and finishes', async () => {
    const taskQueue = testTaskQueue('npm-crash');
    const sb = await npmSandbox('npm-crash');
    const first = await spawnWorkerProcess(suite.client.address, taskQueue);
    const client = await connectClient(taskQueue);
    suite.defer('the crash client', () => client.close());
    const started = await startRollback(client, sb);
    const pidFile = join(sb.prefix, '.rollback-install.pid');
    const npmPid = await eventually(
      'npm install to start',
      () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0),
      60_000,
    );
    await killHard(first);
    const second = await startWorker(taskQueue);
    suite.defer('the second worker', () => second.stop());
    const result = await client.result(started.workflowId, started.runId);
    expect(result.error).toBeUndefined();
    const record = result.record!;
    expect(record.status).toBe('succeeded');
    for (const id of ['inspect', 'resolve', 'backup', 'stop']) {
      expect(record.steps.find((s) => s.id === id)!.attempts).toBe(1);
    }
    const install = record.steps.find((s) => s.id === 'install')!;
    expect(install.attempts).toBe(2);
    // The dead worker's npm was still running, or had finished: either way, one install at a time.
    if (install.summary?.includes('killed orphaned install'))
      expect(install.summary).toContain(String(npmPid));
    expect(() => process.kill(npmPid, 0)).toThrow();
    expect(existsSync(pidFile)).toBe(false);
    expect(installedVersion(sb)).toBe(GOOD_VERSION);
    expect(await listToolsHttp(sb.port)).toHaveLength(FIXTURE_TOOLS);
  });

  test('over SSH: the login installs the stable version in its own prefix, files its own, healthy with 13 tools', async () => {
    const user = deployUser();
    const sshd = await startSshd([], user.name);
    suite.defer('the npm sshd', () => sshd.stop());
    const sb = await npmSandbox('npm-ssh', undefined, sshd);
    const envBefore = readFileSync(join(sb.packageDir, '.env'));
    const started = await startRollback(suite.client, sb);
    expect(started.plan.steps.find((s) => s.id === 'install')).toMatchObject({
      on: { ssh: expect.objectContaining({ user: user.name }) },
    });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.error).toBeUndefined();
    expect(result.record!.status).toBe('succeeded');
    expect(installedVersion(sb)).toBe(GOOD_VERSION);
    expect(statSync(join(sb.packageDir, 'package.json')).uid).toBe(user.uid);
    expect(statSync(join(sb.packageDir, '.env')).uid).toBe(user.uid);
    expect(readFileSync(join(sb.packageDir, '.env')).equals(envBefore)).toBe(true);
    expect(await listToolsHttp(sb.port)).toHaveLength(FIXTURE_TOOLS);
  });

  test('bad input: a version the registry lacks, or a range, is refused with the fix; nothing changed', async () => {
    const sb = await npmSandbox('npm-bad');
    const envBefore = readFileSync(join(sb.packageDir, '.env'));
    const start = (to: string) =>
      runCli([
        '--config',
        sb.configFile,
        'start',
        'emergency',
        '--target',
        sb.target,
        '--to',
        to,
        '--reason',
        'bad release',
        '--task-queue',
        suite.taskQueue,
      ]);
    const range = await start('^1.11.0');
    expect(range.code).toBe(2);
    expect(range.stderr).toMatch(/unsafe version|not an exact version/);
    const missing = await start('9.9.9');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`${NAME}@9.9.9 is not in the registry`);
    expect(installedVersion(sb)).toBe(BAD_VERSION);
    expect(readFileSync(join(sb.packageDir, '.env')).equals(envBefore)).toBe(true);
    expect(pm2Status(sb.pm2Home, `lightdash-${sb.target}`)).toBe('online');

    const complete = await runCli([
      '--config',
      sb.configFile,
      'plan',
      'complete',
      '--target',
      sb.target,
      '--commit',
      'abcdef1',
    ]);
    expect(complete.code).toBe(2);
    expect(complete.stderr).toContain('is an npm package: a complete rollback reverts commits');
  });
});
