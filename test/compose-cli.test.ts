import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { scratchRoot } from './rig/sandbox';
import { installedTool } from './rig/tools';

/**
 * docker-compose.yml as Docker Compose v2 itself reads it (`config`: the compose schema, the
 * interpolation, profiles, env files), with the real CLI (scripts/install-compose.sh builds it when
 * the machine has none). `up --wait` on a real engine, and a rollback through the stack:
 * compose-up.test.ts.
 */

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
let compose: string;
let dir: string;

beforeAll(() => {
  compose = installedTool('install-compose.sh')('COMPOSE');
  // A copy of what the stack reads, as an operator prepares it (README): the secret and the env file.
  dir = mkdtempSync(join(scratchRoot(), 'rb-compose-'));
  cpSync(join(ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
  cpSync(join(ROOT, 'deploy'), join(dir, 'deploy'), { recursive: true });
  mkdirSync(join(dir, 'secrets'));
  writeFileSync(join(dir, 'secrets', 'postgres_password.txt'), 'not-a-real-password\n');
  writeFileSync(join(dir, 'rollback.yaml'), 'version: 1\ntargets: {}\n');
  writeFileSync(join(dir, 'rollback.env'), '');
}, 30 * 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(args: string[], env: Record<string, string> = {}, cwd = ROOT) {
  return run(compose, ['-f', join(cwd, 'docker-compose.yml'), ...args, 'config', '--format', 'json'], {
    cwd,
    env: { ...process.env, ...env },
    maxBuffer: 16 * 2 ** 20,
  }).then((r) => JSON.parse(r.stdout) as { name: string; services: Record<string, any> });
}

test('docker compose config accepts the file as it is in the repository (config -q, default profile)', async () => {
  await expect(
    run(compose, ['-f', join(ROOT, 'docker-compose.yml'), 'config', '-q'], { cwd: ROOT }),
  ).resolves.toBeDefined();
  const c = await config([]);
  expect(c.name).toBe('rollback-orchestrator');
  expect(Object.keys(c.services).sort()).toEqual(
    ['postgresql', 'temporal', 'temporal-init', 'temporal-schema', 'temporal-ui', 'worker'].sort(),
  );
  expect(c.services.worker.deploy.replicas).toBe(2);
});

test('with every profile, an env file and the secret in place: all services, replicas from the environment', async () => {
  const c = await config(
    ['--profile', 'chatops', '--profile', 'alerts', '--profile', 'codec'],
    {
      ROLLBACK_WORKER_REPLICAS: '4',
    },
    dir,
  );
  expect(Object.keys(c.services)).toEqual(expect.arrayContaining(['chatops', 'serve', 'worker']));
  expect(c.services.worker.deploy.replicas).toBe(4);
  // The password reaches Postgres as a secret file, not as a value in the resolved config.
  expect(JSON.stringify(c)).not.toContain('not-a-real-password');
});

test('a broken file is refused by compose with the field named (the check can fail)', async () => {
  const broken = mkdtempSync(join(scratchRoot(), 'rb-compose-broken-'));
  try {
    const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8').replace(
      'condition: service_healthy',
      'condition: service_heathy',
    );
    writeFileSync(join(broken, 'docker-compose.yml'), text);
    const err = await run(compose, ['-f', join(broken, 'docker-compose.yml'), 'config', '-q'], {
      cwd: broken,
    }).then(
      () => null,
      (e: { stderr: string }) => e,
    );
    expect(err?.stderr).toContain('depends_on.postgresql.condition');
  } finally {
    rmSync(broken, { recursive: true, force: true });
  }
});
