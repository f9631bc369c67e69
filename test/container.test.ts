import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { temporal } from '@temporalio/proto';
import { inspectContainer, ROLLBACK_LABEL } from '../src/activities/container';
import { LOCAL_HOST } from '../src/runner/local-host';
import { BAD_VERSION, GOOD_VERSION } from './rig/fixture-repo';
import { startEngine, type TestEngine } from './rig/podman';
import { reservePort } from './rig/ports';
import { listToolsHttp, runCli, startRollback } from './rig/rollback';
import { FIXTURE_TOOLS, health, scratchRoot, type Sandbox } from './rig/sandbox';
import { rollbackSuite } from './rig/suite';
import { eventually } from './rig/eventually';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { killHard, spawnWorkerProcess } from './rig/worker-process';

/**
 * Container rollbacks against a real engine: podman's Docker-compatible API (started by the rig,
 * storage of its own), images built locally from the lightdash-mcp fixture (nothing is pulled). The
 * service runs as a container with host networking on a port of its own, an env file holding the
 * canary secret, a restart policy and a label; the rollback replaces it with the good image.
 */

const suite = rollbackSuite('container');
let engine: TestEngine;
const IMAGE = 'lightdash-mcp';

beforeAll(async () => {
  engine = await startEngine();
  suite.defer('the engine', () => engine.stop());
  await engine.buildFixture(`${IMAGE}:${GOOD_VERSION}`, { version: GOOD_VERSION });
  await engine.buildFixture(`${IMAGE}:${BAD_VERSION}`, {
    version: BAD_VERSION,
    failureMode: 'tools-missing',
  });
  await engine.buildFixture(`${IMAGE}:1.11.5`, { version: '1.11.5', failureMode: 'crash' });
  await engine.buildFixture(`${IMAGE}:1.11.6`, { version: '1.11.6', healthcheck: true });
  await engine.buildFixture(`${IMAGE}:1.11.8`, { version: '1.11.8', env: { STABLE_ONLY: '1' } });
}, 120_000);

interface ContainerSandbox {
  sb: Pick<Sandbox, 'target' | 'configFile' | 'reportsDir' | 'secret'>;
  name: string;
  port: number;
  envFile: string;
  /** The running container's id before the rollback. */
  oldId: string;
}

async function containerTarget(
  name: string,
  edit?: (target: Record<string, any>) => void,
): Promise<ContainerSandbox> {
  const root = mkdtempSync(join(scratchRoot(), `rb-${name}-`));
  suite.defer(`remove ${root}`, () => rmSync(root, { recursive: true, force: true }));
  const secret = `canary-${randomBytes(12).toString('hex')}`;
  const reservation = await reservePort();
  suite.defer(`the port of ${name}`, () => reservation.release());
  const port = reservation.port;
  const envFile = join(root, 'app.env');
  const data = join(root, 'data');
  mkdirSync(data);
  writeFileSync(envFile, `LIGHTDASH_API_KEY=${secret}\n`, { mode: 0o600 });
  const c = await engine.docker.createContainer({
    name,
    Image: `${IMAGE}:${BAD_VERSION}`,
    Env: [`PORT=${port}`, `LIGHTDASH_API_KEY=${secret}`, 'MCP_INSTANCE_NAME=prod'],
    Labels: { team: 'analytics' },
    HostConfig: {
      NetworkMode: 'host',
      RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
      Binds: [`${data}:/data:ro`],
    },
  });
  await c.start();
  await eventually(`${name} to answer`, async () => (await health(port).catch(() => null))?.status === 200);
  const reportsDir = join(root, 'reports');
  mkdirSync(reportsDir);
  const target: Record<string, any> = {
    deploy: {
      type: 'container',
      container: name,
      image: IMAGE,
      stableTag: GOOD_VERSION,
      pull: 'never',
      engine: { socket: engine.socket },
      stopTimeoutSeconds: 5,
      healthTimeoutSeconds: 20,
    },
    envFile,
    backupDir: join(root, 'backups'),
    reportsDir,
    validate: {
      health: { url: `http://127.0.0.1:${port}/health`, timeoutSeconds: 10 },
      mcp: { url: `http://127.0.0.1:${port}/mcp`, expectedTools: FIXTURE_TOOLS },
    },
  };
  edit?.(target);
  const configFile = join(root, 'rollback.yaml');
  writeFileSync(configFile, stringify({ version: 1, targets: { [name]: target } }));
  return { sb: { target: name, configFile, reportsDir, secret }, name, port, envFile, oldId: c.id };
}

const inspect = (name: string) => engine.docker.getContainer(name).inspect();
const names = async () =>
  (await engine.docker.listContainers({ all: true })).map((c) => c.Names[0]!.replace(/^\//, ''));

async function historyText(workflowId: string): Promise<string> {
  const history = await suite.client.client.workflow.getHandle(workflowId).fetchHistory();
  return Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
}

test('emergency: the good image runs under the name with the same settings and the env file; the old container is kept stopped and renamed', async () => {
  const ct = await containerTarget('ct-em');
  // The env file changed since the bad container started: the new one gets the file as it is now.
  writeFileSync(ct.envFile, `LIGHTDASH_API_KEY=${ct.sb.secret}\nQURATOR=false\n`);
  const started = await startRollback(suite.client, ct.sb as Sandbox);
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const record = result.record!;
  expect(record.status).toBe('succeeded');
  expect(record.fromVersion).toBe(BAD_VERSION);
  expect(record.toVersion).toBe(GOOD_VERSION);

  const now = await inspect(ct.name);
  expect(now.Id).not.toBe(ct.oldId);
  expect(now.Config.Image).toContain(`${IMAGE}:${GOOD_VERSION}`);
  expect(now.State.Running).toBe(true);
  expect(now.HostConfig.NetworkMode).toBe('host');
  expect(now.HostConfig.RestartPolicy?.Name).toBe('unless-stopped');
  expect(now.Mounts.map((m) => [m.Destination, m.RW])).toEqual([['/data', false]]);
  expect(now.Config.Labels).toMatchObject({
    team: 'analytics',
    [ROLLBACK_LABEL]: started.request.rollbackId,
  });
  expect(now.Config.Env).toEqual(
    expect.arrayContaining([
      `PORT=${ct.port}`,
      'MCP_INSTANCE_NAME=prod',
      'QURATOR=false',
      `LIGHTDASH_API_KEY=${ct.sb.secret}`,
    ]),
  );
  const served = await health(ct.port);
  expect(served.body.version).toBe(GOOD_VERSION);
  expect((served.body as { features?: { qurator?: boolean } }).features?.qurator).toBe(false);
  expect(await listToolsHttp(ct.port)).toHaveLength(FIXTURE_TOOLS);

  // The bad one is kept for investigation: stopped, under a name that says so.
  const kept = (await names()).filter((n) => n.startsWith(`${ct.name}-rolled-back-`));
  expect(kept).toHaveLength(1);
  const old = await inspect(kept[0]!);
  expect(old.Id).toBe(ct.oldId);
  expect(old.State.Running).toBe(false);
  expect(record.steps.find((s) => s.id === 'stop')!.summary).toContain(kept[0]);
  expect(record.steps.find((s) => s.id === 'start')!.summary).toContain('env file applied');

  const text = await historyText(started.workflowId);
  expect(text).not.toContain(ct.sb.secret);
  expect(text).toContain('createStableContainer');
});

test('rollback plan compares the running container with the stable image: image and env keys, never a value', async () => {
  const ct = await containerTarget('ct-plan');
  /** `rollback plan emergency --to TAG --json`: its exit, output and the findings of its preview. */
  const plan = async (tag: string) => {
    const r = await runCli([
      '--config',
      ct.sb.configFile,
      'plan',
      'emergency',
      '--target',
      ct.name,
      '--to',
      tag,
      '--json',
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      preview: { findings: { id: string; severity: string; title: string }[] };
    };
    return { ...r, findings: out.preview.findings };
  };
  const r = await plan('1.11.8');
  expect(Object.fromEntries(r.findings.map((f) => [f.id, f.severity]))).toEqual({
    image: 'info',
    'env:STABLE_ONLY': 'info',
  });
  expect(r.findings.find((f) => f.id === 'image')!.title).toMatch(
    // podman names the running container's image with its registry (docker.io/library/...).
    new RegExp(
      `^image (docker\\.io/library/)?${IMAGE}:${BAD_VERSION} \\([0-9a-f]{12}\\) → ${IMAGE}:1.11.8 \\([0-9a-f]{12}\\)$`,
    ),
  );
  expect(r.stdout + r.stderr).not.toContain(ct.sb.secret);

  // An image with a HEALTHCHECK where the running one has none: the analysis says so.
  const hc = await plan('1.11.6');
  expect(hc.findings.find((f) => f.id === 'health-check')).toEqual({
    id: 'health-check',
    severity: 'info',
    title: `${IMAGE}:1.11.6 has health check; the running image has none`,
  });
  // Nothing changed: the bad container still runs under its name.
  expect((await inspect(ct.name)).Id).toBe(ct.oldId);
});

test('a start failure is undone: the new container is removed and the old one runs again under its name', async () => {
  const ct = await containerTarget('ct-crash', (t) => (t.deploy.stableTag = '1.11.5'));
  const started = await startRollback(suite.client, ct.sb as Sandbox);
  const result = await suite.client.result(started.workflowId, started.runId);
  const record = result.record!;
  expect(record.status).toBe('compensated');
  expect(record.failure).toMatchObject({ stepId: 'wait-healthy' });
  expect(record.steps.find((s) => s.id === 'wait-healthy')!.lastError).toMatch(/stopped|restarted/);
  expect(record.undos.map((u) => u.activity)).toEqual(['removeRollbackContainer', 'restoreKeptContainer']);
  const now = await inspect(ct.name);
  expect(now.Id).toBe(ct.oldId);
  expect(now.State.Running).toBe(true);
  expect((await names()).filter((n) => n.startsWith(ct.name))).toEqual([ct.name]);
  await eventually(
    'the old container to answer again',
    async () => (await health(ct.port).catch(() => null))?.body.version === BAD_VERSION,
  );
});

test('an image the engine does not have (pull: never): refused naming it, nothing changed', async () => {
  const ct = await containerTarget('ct-noimg', (t) => (t.deploy.stableTag = '9.9.9'));
  const started = await startRollback(suite.client, ct.sb as Sandbox);
  const result = await suite.client.result(started.workflowId, started.runId);
  const record = result.record!;
  expect(record.status).toBe('refused');
  const image = record.steps.find((s) => s.id === 'image')!;
  expect(image.lastError).toContain(`has no image ${IMAGE}:9.9.9`);
  expect(image.lastError).toContain('nothing was changed');
  expect(record.steps.find((s) => s.id === 'stop')!.state).toBe('pending');
  const now = await inspect(ct.name);
  expect(now.Id).toBe(ct.oldId);
  expect(now.State.Running).toBe(true);
  expect((await names()).filter((n) => n.startsWith(ct.name))).toEqual([ct.name]);
});

test('pull: missing: the stable tag is pulled from the registry; a tag the registry lacks is refused, nothing changed', async () => {
  const pushed = await engine.push(`${IMAGE}:${GOOD_VERSION}`, `team/${IMAGE}:${GOOD_VERSION}`);
  const repository = pushed.slice(0, pushed.lastIndexOf(':'));
  expect(
    await engine.docker
      .getImage(pushed)
      .inspect()
      .catch(() => null),
  ).toBeNull();
  const ct = await containerTarget('ct-pull', (t) =>
    Object.assign(t.deploy, { image: repository, pull: 'missing' }),
  );
  const started = await startRollback(suite.client, ct.sb as Sandbox);
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.steps.find((s) => s.id === 'image')!.summary).toContain(`${pushed} (`);
  expect(result.record!.steps.find((s) => s.id === 'image')!.summary).toContain('pulled');
  expect((await inspect(ct.name)).Config.Image).toBe(pushed);
  expect((await health(ct.port)).body.version).toBe(GOOD_VERSION);

  const missing = await containerTarget('ct-pull-missing', (t) =>
    Object.assign(t.deploy, { image: repository, pull: 'missing', stableTag: '9.9.9' }),
  );
  const refused = await startRollback(suite.client, missing.sb as Sandbox);
  const record = (await suite.client.result(refused.workflowId, refused.runId)).record!;
  expect(record.status).toBe('refused');
  const image = record.steps.find((s) => s.id === 'image')!;
  expect(image.errorType).toBe('ImageNotFound');
  expect(image.lastError).toContain(`the registry has no image ${repository}:9.9.9`);
  expect((await inspect(missing.name)).Id).toBe(missing.oldId);
  expect((await names()).filter((n) => n.startsWith(missing.name))).toEqual([missing.name]);
});

test('an unreachable engine socket: start is refused (exit 2) naming the socket; the activity fails for good', async () => {
  const ct = await containerTarget('ct-nosock', (t) => (t.deploy.engine.socket = '/tmp/no-such-engine.sock'));
  const r = await runCli([
    '--config',
    ct.sb.configFile,
    'start',
    'emergency',
    '--target',
    ct.sb.target,
    '--reason',
    'bad image',
    '--task-queue',
    suite.taskQueue,
  ]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('deploy.engine.socket /tmp/no-such-engine.sock is not a socket');
  expect((await inspect(ct.name)).Id).toBe(ct.oldId);
  // The same socket met by a worker: a typed failure that is not retried, saying the fix.
  await expect(
    inspectContainer({ engine: { socket: '/tmp/no-such-engine.sock' }, container: ct.name }, LOCAL_HOST),
  ).rejects.toMatchObject({
    type: 'EngineUnreachable',
    nonRetryable: true,
    message: expect.stringContaining('/tmp/no-such-engine.sock does not exist'),
  });
});

test('a worker killed with SIGKILL while the new container warms up: a new worker finishes, one new container, the old one kept once', async () => {
  const taskQueue = testTaskQueue('ct-crash');
  const ct = await containerTarget('ct-kill', (t) => (t.deploy.stableTag = '1.11.6'));
  // The image's healthcheck fails while the service warms up (WARMUP_MS): wait-healthy waits.
  writeFileSync(ct.envFile, `LIGHTDASH_API_KEY=${ct.sb.secret}\nWARMUP_MS=6000\n`);
  const first = await spawnWorkerProcess(suite.client.address, taskQueue);
  const client = await connectClient(taskQueue);
  suite.defer('the crash client', () => client.close());
  const started = await startRollback(client, ct.sb as Sandbox);
  await eventually('wait-healthy to start', async () => {
    const progress = await client.progress(started.workflowId, started.runId);
    return progress.steps.find((s) => s.id === 'wait-healthy')?.state === 'running';
  });
  await killHard(first);
  const second = await startWorker(taskQueue);
  suite.defer('the second worker', () => second.stop());
  const result = await client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const record = result.record!;
  expect(record.status).toBe('succeeded');
  for (const id of ['stop', 'start']) expect(record.steps.find((s) => s.id === id)!.attempts).toBe(1);
  expect(record.steps.find((s) => s.id === 'wait-healthy')!.summary).toContain('healthcheck says healthy');
  const all = (await names()).filter((n) => n.startsWith(ct.name));
  expect(all).toHaveLength(2);
  expect(all).toEqual(
    expect.arrayContaining([ct.name, expect.stringMatching(new RegExp(`^${ct.name}-rolled-back-`))]),
  );
  expect((await inspect(ct.name)).State.Health?.Status).toBe('healthy');
  expect((await health(ct.port)).body.version).toBe('1.11.6');
});

test('complete: the commit is reverted on the source branch, its image built and run', async () => {
  const root = mkdtempSync(join(scratchRoot(), 'rb-ct-complete-'));
  suite.defer(`remove ${root}`, () => rmSync(root, { recursive: true, force: true }));
  // The service's repository: a Dockerfile and the app; the last commit breaks it (tools missing).
  const remote = join(root, 'remote.git');
  const work = join(root, 'work');
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', work, ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@t',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@t',
      },
    })
      .toString()
      .trim();
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', remote]);
  mkdirSync(work);
  engine.fixtureContext(work, { version: '1.11.7' });
  execFileSync('git', ['init', '--quiet', '--initial-branch=main', work]);
  git('add', '.');
  git('commit', '--quiet', '-m', 'release 1.11.7');
  writeFileSync(join(work, 'app', 'release.json'), JSON.stringify({ failureMode: 'tools-missing' }));
  git('commit', '--quiet', '-am', 'break the tools');
  const bad = git('rev-parse', 'HEAD');
  git('remote', 'add', 'origin', remote);
  git('push', '--quiet', 'origin', 'main');

  const ct = await containerTarget('ct-complete', (t) => {
    t.deploy.source = { repo: remote, branch: 'main' };
    t.approval = { required: { complete: false } };
  });
  const started = await startRollback(suite.client, ct.sb as Sandbox, { kind: 'complete', commits: [bad] });
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const record = result.record!;
  expect(record.status).toBe('succeeded');
  const head = execFileSync('git', ['-C', remote, 'rev-parse', 'main']).toString().trim();
  expect(head).not.toBe(bad);
  const built = `${IMAGE}:revert-${head.slice(0, 12)}`;
  expect(record.steps.find((s) => s.id === 'build')!.summary).toContain(`built ${built}`);
  const now = await inspect(ct.name);
  expect(now.Config.Image).toContain(built);
  expect(await listToolsHttp(ct.port)).toHaveLength(FIXTURE_TOOLS);
  expect((await health(ct.port)).body.version).toBe('1.11.7');
  expect(execFileSync('git', ['-C', remote, 'log', '-1', '--format=%s', 'main']).toString()).toContain(
    `Rollback ${started.request.rollbackId}`,
  );
});
