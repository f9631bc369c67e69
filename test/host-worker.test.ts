import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GOOD_VERSION } from './rig/fixture-repo';
import { deployUser } from './rig/deploy-user';
import { eventually } from './rig/eventually';
import { rollbackSuite } from './rig/suite';
import { health, type Sandbox, type SandboxOptions } from './rig/sandbox';
import { createUserSandbox } from './rig/ssh-sandbox';
import { ROOT, runCli, startRollback } from './rig/rollback';
import { killHard, spawnHostWorker } from './rig/worker-process';

/**
 * A host with a worker of its own (`rollback worker --host NAME`): the orchestrator's worker runs
 * the workflow, the host's worker (another process, in the deploy user's home, as that user when
 * the rig can make one and it can read this checkout) takes every host step from rollback-host-NAME.
 */

const suite = rollbackSuite('hostw');
const user = deployUser();
/** Whether the deploy user can run this checkout's CLI (a clone under a private folder it cannot). */
const userCanRun =
  user.separate &&
  process.env.ROLLBACK_TEST_HOST_WORKER_AS_SELF !== '1' &&
  spawnSync('setpriv', [
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    '--clear-groups',
    '--',
    'test',
    '-r',
    join(ROOT, 'node_modules', 'tsx', 'package.json'),
  ]).status === 0;
const workers: ChildProcess[] = [];
afterAll(async () => {
  for (const w of workers) await killHard(w);
});

function address(): string {
  return suite.client.address;
}

async function hostWorker(name: string): Promise<ChildProcess> {
  const w = await spawnHostWorker(address(), name, {
    cwd: user.home,
    ...(userCanRun ? { user } : {}),
  });
  workers.push(w);
  return w;
}

/** Owned by the deploy user when its worker runs as that user; else an ordinary sandbox of ours. */
async function sandbox(name: string, worker: string, opts: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  if (userCanRun) {
    const sb = await createUserSandbox({ name, host: { worker }, ...opts });
    suite.defer(`host sandbox ${name}`, () => sb.cleanup());
    return sb;
  }
  return suite.sandbox({
    name,
    ...opts,
    configure: (t, config) => {
      t.host = { worker };
      opts.configure?.(t, config);
    },
  });
}

const workerName = (base: string) => `${base}-${randomBytes(3).toString('hex')}`;

/** Where the CLI records host checks in these tests (not the home folder of whoever runs them). */
const stateEnv = { ROLLBACK_STATE_DIR: mkdtempSync(join(tmpdir(), 'rollback-state-')) };
afterAll(() => rmSync(stateEnv.ROLLBACK_STATE_DIR, { recursive: true, force: true }));

interface HostsView {
  hosts: { host: string; via: string; state: string; targets: string[]; lastCheckedAt?: string }[];
}
async function hostsView(configFile: string): Promise<HostsView['hosts']> {
  const r = await runCli(['--config', configFile, 'hosts', '--json'], stateEnv);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as HostsView).hosts;
}

test('no worker polls the host queue: start exits 2 and starts nothing', async () => {
  const name = workerName('web-none');
  const sb = await sandbox('hw-none', name);
  const r = await runCli([
    '--config',
    sb.configFile,
    'start',
    'emergency',
    '--target',
    sb.target,
    '--reason',
    'v1.20.2 is failing health checks',
    '--task-queue',
    suite.taskQueue,
  ]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`no worker for host ${name} polls task queue "rollback-host-${name}"`);
  expect(r.stderr).toContain(`rollback worker --host ${name}`);
  await expect(suite.client.client.workflow.getHandle(`rollback-${sb.target}`).describe()).rejects.toThrow(
    /not found/i,
  );

  // config check asks Temporal about the host's queue, and rollback hosts shows what it found.
  expect(await hostsView(sb.configFile)).toEqual([
    expect.objectContaining({ host: `worker ${name}`, via: 'worker', state: 'unchecked' }),
  ]);
  const check = await runCli(['--config', sb.configFile, 'config', 'check'], stateEnv);
  expect(check.code).toBe(2);
  expect(check.stderr).toContain(
    `target "${sb.target}" on worker ${name}: no worker polls rollback-host-${name}`,
  );
  expect(await hostsView(sb.configFile)).toEqual([
    expect.objectContaining({ host: `worker ${name}`, state: 'problem', lastCheckedAt: expect.any(String) }),
  ]);
  const text = await runCli(['--config', sb.configFile, 'hosts'], stateEnv);
  expect(text.stdout).toMatch(
    new RegExp(`worker ${name}\\s+worker\\s+problem\\s+\\d+ s ago\\s+${sb.target}`),
  );
  expect(text.stdout).toContain(`✘ target "${sb.target}" on worker ${name}: no worker polls`);
});

test('the host worker runs the host steps; while none polls, status says it waits; killed mid-install and restarted, the rollback finishes', async () => {
  const name = workerName('web');
  const sb = await sandbox('hw-run', name, {
    install: ['sh', '-c', 'sleep 4; exec npm ci --offline --no-audit --no-fund'],
    // The health check runs on the host too: its worker takes it from the host's queue.
    configure: (t) => (t.validate.health.from = 'host'),
  });
  const envBefore = readFileSync(join(sb.deployPath, '.env'));
  // Started through the client (the CLI would refuse it): the first host step waits on the queue.
  const started = await startRollback(suite.client, sb);
  expect(started.plan.steps.find((s) => s.id === 'install')).toMatchObject({ on: { worker: name } });
  const waiting = await eventually('status to say it waits for the host worker', async () => {
    const r = await runCli(['status', started.workflowId, '--json']);
    const view = JSON.parse(r.stdout) as { waitingFor: string[] };
    return view.waitingFor.includes(name) && r;
  });
  expect(waiting.code).toBe(0);
  const text = await runCli(['status', started.workflowId]);
  expect(text.stdout).toContain(`waiting for the worker on ${name}`);
  expect(text.stdout).toContain(`rollback worker --host ${name}`);
  // The Web UI's details say the same.
  const meta = (await suite.client.client.workflow
    .getHandle(started.workflowId)
    .query('__temporal_workflow_metadata')) as { currentDetails?: string };
  expect(meta.currentDetails).toContain(`waiting for the worker on ${name}`);

  const first = await hostWorker(name);
  const pidFile = join(sb.deployPath, '.rollback-install.pid');
  await eventually('the install to start on the host', () => existsSync(pidFile), 60_000);
  await killHard(first);
  await hostWorker(name);

  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const record = result.record!;
  expect(record.status).toBe('succeeded');
  expect(record.steps.find((s) => s.id === 'install')!.attempts).toBe(2);
  for (const id of ['inspect', 'resolve', 'backup', 'stop', 'checkout']) {
    expect(record.steps.find((s) => s.id === id)!.attempts).toBe(1);
  }
  for (const id of ['install', 'validate-health', 'validate-mcp-stdio'])
    expect(record.steps.find((s) => s.id === id)!.host).toBe(`worker ${name}`);
  expect(record.steps.find((s) => s.id === 'validate-mcp-http')!.host).toBeUndefined();
  expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
  expect(readFileSync(join(sb.deployPath, '.env')).equals(envBefore)).toBe(true);
  // The host worker acted as the deploy user (when the rig could run it as one).
  const owner = statSync(join(sb.deployPath, 'node_modules')).uid;
  expect(owner).toBe(userCanRun ? user.uid : process.getuid!());
  // The reports were written by the orchestrator's worker, not on the host.
  expect(readFileSync(join(sb.reportsDir, 'rollback-log.md'), 'utf8')).toContain(
    'v1.20.2 → v1.11.4 (succeeded)',
  );

  // With its worker polling, config check finds the host ready, and hosts --check says so.
  const check = await runCli(['--config', sb.configFile, 'config', 'check', '--json'], stateEnv);
  expect(check.code).toBe(0);
  expect(JSON.parse(check.stdout)).toMatchObject({
    hosts: [{ target: sb.target, host: `worker ${name}`, via: 'worker', reachable: true }],
  });
  const now = await runCli(['--config', sb.configFile, 'hosts', '--check'], stateEnv);
  expect(now.code).toBe(0);
  expect(now.stdout).toMatch(new RegExp(`worker ${name}\\s+worker\\s+ready`));
});
