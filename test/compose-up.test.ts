import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { Cleanup } from './rig/cleanup';
import { startDocker, type DockerEngine } from './rig/docker';
import { eventually } from './rig/eventually';
import { createFixtureRemote, deployWorkingCopy } from './rig/fixture-repo';
import { reservePort } from './rig/ports';
import { runCli, ROOT } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';
import { installedTool } from './rig/tools';

/**
 * docker-compose.yml end to end, as the README tells an operator to run it: `docker compose up -d
 * --wait` on a real Docker engine (Debian's dockerd, test/rig/docker.ts), then the CLI on this
 * machine against the stack's Temporal server, and an emergency rollback of the lightdash fixture
 * carried out by the worker container; `down` at the end.
 *
 * No image can be pulled here: scripts/build-stack-images.sh builds the worker image from the
 * repository's Dockerfile, and stand-ins for the upstream images (PostgreSQL, the Temporal server
 * and admin tools v1.32.1, the Web UI v2.55.0) from Debian packages and binaries built from Go
 * modules, under the upstream tags (deploy/local-images/README.md says what they keep of the
 * upstream images). The compose file itself is used unchanged; a test override only mounts the
 * fixture's folder into the worker, as an operator mounts the services a worker rolls back.
 *
 * One worker replica: the fixture runs under pm2 inside the worker container, so every step must
 * run in that one container. (Replicas are checked by compose-cli.test.ts; several workers polling
 * one queue on the real server by cluster.test.ts.)
 */

const run = promisify(execFile);
const cleanup = new Cleanup();
const WORKER_UID = 10001; // the Dockerfile's user
const SERVICE_PORT = 18080; // inside the worker container's own network namespace
let engine: DockerEngine;
let compose: (args: string[], timeoutMs?: number) => Promise<{ stdout: string; stderr: string }>;
let dir: string;
let fixture: string;
let temporalPort: number;
let uiPort: number;
let upSeconds: number;

const project = `rbe2e${randomBytes(3).toString('hex')}`;
const cli = (args: string[]) =>
  runCli(['--config', join(dir, 'rollback.yaml'), '--address', `127.0.0.1:${temporalPort}`, ...args], {
    ROLLBACK_STATE_DIR: join(dir, 'cli-state'),
  });

/** chown -R, without following links. */
function chownTree(path: string, uid: number): void {
  lchownSync(path, uid, uid);
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.isDirectory()) chownTree(join(path, e.name), uid);
    else lchownSync(join(path, e.name), uid, uid);
  }
}

beforeAll(async () => {
  const started = Date.now();
  engine = await startDocker();
  cleanup.add('the Docker engine', () => engine.stop());
  const composeBin = installedTool('install-compose.sh')('COMPOSE');

  // The images: cold, a debootstrap, PostgreSQL from Debian and the worker's npm install (minutes);
  // warm, seconds.
  const building = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [join(ROOT, 'scripts', 'build-stack-images.sh')], {
      env: engine.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-8000);
      process.stderr.write(d);
    });
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`build-stack-images.sh exited ${code}: ${err.slice(-3000)}`)),
    );
  });
  process.stderr.write(`[compose-up] images ready in ${Math.round((Date.now() - building) / 1000)} s\n`);

  dir = mkdtempSync(join(scratchRoot(), 'rb-compose-up-'));
  cleanup.add('the project folder', () => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
  cpSync(join(ROOT, 'deploy'), join(dir, 'deploy'), { recursive: true });
  mkdirSync(join(dir, 'secrets'));
  writeFileSync(join(dir, 'secrets', 'postgres_password.txt'), `${randomBytes(18).toString('base64')}\n`);
  writeFileSync(
    join(dir, 'rollback.env'),
    '# SLACK_*, ROLLBACK_CODEC_KEYS, webhook URLs: none in this test\n',
  );

  // The service: the lightdash fixture deployed from git at the bad release, in a folder mounted at
  // the same path in the worker container and owned by the worker's user.
  fixture = join(dir, 'fixture');
  const { remote } = await createFixtureRemote({ dir: join(fixture, 'git'), badMode: 'unhealthy' });
  await deployWorkingCopy({
    remote,
    path: join(fixture, 'srv'),
    ref: 'v1.20.2',
    env: { LIGHTDASH_API_KEY: 'compose-canary-not-a-real-secret' },
  });
  chmodSync(fixture, 0o755);
  chownTree(fixture, WORKER_UID);
  const base = `http://127.0.0.1:${SERVICE_PORT}`;
  writeFileSync(
    join(dir, 'rollback.yaml'),
    stringify({
      version: 1,
      targets: {
        'lightdash-mcp': {
          description: 'lightdash MCP server in the worker container (compose end-to-end test)',
          deploy: { type: 'git', path: join(fixture, 'srv'), stableVersion: 'v1.11.4' },
          service: {
            manager: 'pm2',
            name: 'lightdash-mcp',
            script: 'server.js',
            env: { PORT: String(SERVICE_PORT) },
            pm2Home: join(fixture, 'pm2'),
          },
          backupDir: join(fixture, 'backups'),
          reportsDir: join(fixture, 'reports'),
          validate: {
            health: { url: `${base}/health`, timeoutSeconds: 30 },
            mcp: { url: `${base}/mcp`, expectedTools: 13 },
          },
        },
      },
    }),
  );
  writeFileSync(
    join(dir, 'docker-compose.e2e.yml'),
    stringify({ services: { worker: { volumes: [`${fixture}:${fixture}`] } } }),
  );

  const tp = await reservePort();
  const up = await reservePort();
  cleanup.add('the ports', () => (tp.release(), up.release()));
  temporalPort = tp.port;
  uiPort = up.port;
  const composeEnv = {
    ...engine.env,
    TEMPORAL_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: String(uiPort),
    ROLLBACK_WORKER_REPLICAS: '1',
  };
  compose = (args, timeoutMs = 300_000) =>
    run(
      composeBin,
      [
        '-p',
        project,
        '-f',
        join(dir, 'docker-compose.yml'),
        '-f',
        join(dir, 'docker-compose.e2e.yml'),
        ...args,
      ],
      { cwd: dir, env: composeEnv, timeout: timeoutMs, maxBuffer: 32 * 2 ** 20 },
    );
  cleanup.add('the stack', async () => {
    await compose(['down', '-v', '--timeout', '10']).catch((e: Error) =>
      process.stderr.write(`[compose-up] down failed: ${e.message}\n`),
    );
  });

  const upStarted = Date.now();
  try {
    await compose(['up', '-d', '--wait', '--pull', 'never']);
  } catch (err) {
    const logs = await compose(['logs', '--no-color', '--tail', '30']).catch(() => ({ stdout: '' }));
    throw new Error(
      `docker compose up failed: ${(err as Error).message}\n${logs.stdout}\ndockerd: ${engine.log().slice(-2000)}`,
      { cause: err },
    );
  }
  upSeconds = (Date.now() - upStarted) / 1000;
  process.stderr.write(
    `[compose-up] up --wait in ${upSeconds.toFixed(1)} s; whole setup ${Math.round((Date.now() - started) / 1000)} s\n`,
  );
}, 30 * 60_000);

afterAll(() => cleanup.run(), 120_000);

test('up --wait brings every service up healthy, in order, with the one-shot setup done', async () => {
  const { stdout } = await compose(['ps', '-a', '--format', 'json']);
  const rows = stdout
    .trim()
    .split('\n')
    .flatMap((l) => {
      const v = JSON.parse(l) as unknown;
      return Array.isArray(v) ? v : [v];
    }) as { Service: string; State: string; Health: string; ExitCode: number }[];
  const by = Object.fromEntries(rows.map((r) => [r.Service, r]));
  expect(Object.keys(by).sort()).toEqual(
    ['postgresql', 'temporal', 'temporal-init', 'temporal-schema', 'temporal-ui', 'worker'].sort(),
  );
  expect(by.postgresql).toMatchObject({ State: 'running', Health: 'healthy' });
  expect(by.worker).toMatchObject({ State: 'running', Health: 'healthy' });
  expect(by.temporal.State).toBe('running');
  expect(by['temporal-ui'].State).toBe('running');
  expect(by['temporal-schema']).toMatchObject({ State: 'exited', ExitCode: 0 });
  expect(by['temporal-init']).toMatchObject({ State: 'exited', ExitCode: 0 });
  // The secret reached PostgreSQL as a file: it is in no container's environment.
  const password = readFileSync(join(dir, 'secrets', 'postgres_password.txt'), 'utf8').trim();
  const { stdout: inspect } = await run(
    'docker',
    ['inspect', ...rows.map((r) => `${project}-${r.Service}-1`)],
    {
      env: engine.env,
      maxBuffer: 32 * 2 ** 20,
    },
  );
  expect(inspect).not.toContain(password);
  // The worker image runs its workflows from the bundle its build made (no webpack at start).
  const { stdout: workerLog } = await compose(['logs', '--no-color', 'worker']);
  expect(workerLog).toContain('(workflows: prebuilt bundle /app/dist/workflow-bundle.js)');
  // The Web UI answers on its published port.
  const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
  expect(ui.status).toBe(200);
});

test('rollback doctor on this machine finds the stack ready: server 1.32.1, namespace, search attributes, the worker', async () => {
  const r = await cli(['doctor']);
  expect(r.stdout).toMatch(/ok\s+reachable: .*Temporal 1\.32\.1/);
  expect(r.stdout).toMatch(/ok\s+namespace: default exists/);
  expect(r.stdout).toMatch(/ok\s+search attributes: .*RollbackRequestedBy registered/);
  expect(r.stdout).toMatch(/ok\s+worker: a worker polls task queue "rollback-orchestrator"/);
  expect(r.stdout).toMatch(/^all checks passed/m);
  expect(r.code).toBe(0);
});

test('an emergency rollback of the fixture, started by the CLI here, is carried out by the worker container', async () => {
  // The bad release runs under pm2 in the worker container, as it would on the worker's host.
  const pm2 = (args: string[]) =>
    compose([
      'exec',
      '-T',
      '-e',
      `PM2_HOME=${join(fixture, 'pm2')}`,
      '-e',
      `PORT=${SERVICE_PORT}`,
      'worker',
      'node',
      '/app/node_modules/pm2/bin/pm2',
      ...args,
    ]);
  await pm2([
    'start',
    join(fixture, 'srv', 'server.js'),
    '--name',
    'lightdash-mcp',
    '--cwd',
    join(fixture, 'srv'),
  ]);
  const health = () =>
    compose([
      'exec',
      '-T',
      'worker',
      'node',
      '-e',
      `fetch('http://127.0.0.1:${SERVICE_PORT}/health').then(r=>console.log(r.status),()=>console.log('down'))`,
    ]).then((r) => r.stdout.trim());
  await eventually('the bad release to answer (unhealthy)', async () => (await health()) === '503', 30_000);

  const r = await cli([
    'start',
    'emergency',
    '--target',
    'lightdash-mcp',
    '--reason',
    'v1.20.2 fails health checks (compose end-to-end)',
    '--wait',
    '--json',
  ]);
  if (r.code !== 0) throw new Error(`rollback start exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout) as { workflowId: string; ok: boolean; record: { status: string } };
  expect(out).toMatchObject({ ok: true, record: { status: 'succeeded' } });

  // The world changed where the worker runs: the known-good tag checked out, the service healthy.
  const { stdout: described } = await run('git', [
    '-c',
    'safe.directory=*',
    '-C',
    join(fixture, 'srv'),
    'describe',
    '--tags',
    '--exact-match',
  ]);
  expect(described.trim()).toBe('v1.11.4');
  expect(await health()).toBe('200');
  const { stdout: list } = await pm2(['jlist']);
  const procs = JSON.parse(list.slice(list.indexOf('['))) as { name: string; pm2_env: { status: string } }[];
  expect(procs.find((p) => p.name === 'lightdash-mcp')?.pm2_env.status).toBe('online');
  // The report was written by the worker, beside the service; the .env's secret is not in it.
  const reports = readdirSync(join(fixture, 'reports'), { recursive: true }) as string[];
  const md = reports.filter((f) => f.endsWith('.md'));
  expect(md.length).toBeGreaterThan(0);
  for (const f of md)
    expect(readFileSync(join(fixture, 'reports', f), 'utf8')).not.toContain('compose-canary');

  // The CLI reads it back from the stack's server.
  const status = await cli(['status', out.workflowId, '--json']);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({ record: { status: 'succeeded' } });
}, 600_000);

test('down removes every container of the stack', async () => {
  await compose(['down', '-v', '--timeout', '10']);
  const { stdout } = await run(
    'docker',
    ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}'],
    { env: engine.env },
  );
  expect(stdout.trim()).toBe('');
});
