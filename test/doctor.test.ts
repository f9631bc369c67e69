import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';
import { ensureTemporalCli } from '../src/temporal/cli-binary';
import { Cleanup } from './rig/cleanup';
import { commandTarget } from './rig/configs';
import { eventually } from './rig/eventually';
import { runCli, type CliResult } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';

/**
 * `rollback doctor` against real servers: the rig's (every search attribute registered), one of the
 * test's own with a search attribute removed (the fix it prints, run with the real Temporal CLI,
 * makes the check pass), task queues no worker polls, a config's host worker, and no server at all.
 */

interface Report {
  ok: boolean;
  checks: { name: string; status: 'ok' | 'warn' | 'fail'; detail: string; fix?: string }[];
}

const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-doctor-'));
const taskQueue = testTaskQueue('doctor');
/** No config unless a test gives one: ./rollback.yaml of the checkout would not be one of ours. */
const noConfig = { ROLLBACK_CONFIG: undefined, ROLLBACK_TASK_QUEUE: undefined };

beforeAll(async () => {
  cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));
  const worker = await startWorker(taskQueue);
  cleanup.add('the worker', () => worker.stop());
  const client = await connectClient(taskQueue);
  try {
    await eventually('the worker to poll', async () => (await client.workerPresence()).polling, 60_000);
  } finally {
    await client.close();
  }
});
afterAll(() => cleanup.run());

function doctor(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, { ...noConfig, ...env });
}

function report(r: CliResult): Report {
  return JSON.parse(r.stdout) as Report;
}

function check(rep: Report, name: string) {
  const found = rep.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check "${name}" in ${JSON.stringify(rep.checks)}`);
  return found;
}

test('a healthy server with a worker: every check ok, exit 0, in text and as JSON', async () => {
  const text = await doctor(['doctor', '--task-queue', taskQueue]);
  expect(text.code).toBe(0);
  const address = process.env.TEMPORAL_ADDRESS!;
  expect(text.stdout).toMatch(new RegExp(`^ok {3}reachable: ${address} \\(Temporal \\d+\\.\\d+\\.\\d+`, 'm'));
  expect(text.stdout).toMatch(/^ok {3}namespace: default exists$/m);
  expect(text.stdout).toMatch(
    /^ok {3}search attributes: RollbackTarget, RollbackKind, RollbackFromVersion, RollbackToVersion, RollbackRequestedBy registered$/m,
  );
  expect(text.stdout).toContain(`ok   worker: a worker polls task queue "${taskQueue}"`);
  expect(text.stdout).toMatch(/^ok {3}host workers: not checked: no rollback\.yaml/m);
  expect(text.stdout).not.toMatch(/^(warn|FAIL)/m);
  expect(text.stdout.trim().split('\n').at(-1)).toBe('all checks passed');

  const json = await doctor(['doctor', '--task-queue', taskQueue, '--json']);
  expect(json.code).toBe(0);
  expect(json.stderr).toBe('');
  const rep = report(json);
  expect(rep.ok).toBe(true);
  expect(rep.checks.map((c) => c.name)).toEqual([
    'reachable',
    'namespace',
    'search attributes',
    'worker',
    'host workers',
  ]);
  for (const c of rep.checks) {
    expect(c.status).toBe('ok');
    expect(c.fix).toBeUndefined();
  }
});

test('a task queue no worker polls: exit 1, naming the queue and the command that starts a worker', async () => {
  const fresh = testTaskQueue('doctor-nobody');
  const r = await doctor(['doctor', '--task-queue', fresh]);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain(`FAIL worker: no worker polls task queue "${fresh}"`);
  expect(r.stdout).toContain(`start one: rollback worker --task-queue ${fresh}`);
  expect(r.stdout.trim().split('\n').at(-1)).toBe('1 failure, 0 warnings');

  const rep = report(await doctor(['doctor', '--task-queue', fresh, '--json']));
  expect(rep.ok).toBe(false);
  expect(check(rep, 'worker')).toMatchObject({
    status: 'fail',
    fix: `rollback worker --task-queue ${fresh}`,
  });
  expect(check(rep, 'search attributes').status).toBe('ok');
});

test('a config target on a host worker nobody runs: a warning naming rollback-host-NAME, exit 0', async () => {
  const worker = `doc-${randomBytes(3).toString('hex')}`;
  const name = 'doctor-hostw';
  const dir = join(root, name);
  mkdirSync(join(dir, 'srv'), { recursive: true });
  const file = join(dir, 'rollback.yaml');
  writeFileSync(
    file,
    stringify({
      version: 1,
      targets: { [name]: { ...commandTarget(name, join(dir, 'srv'), dir), host: { worker } } },
    }),
  );
  const r = await doctor(['--config', file, 'doctor', '--task-queue', taskQueue]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(
    `warn host worker ${worker}: no worker polls "rollback-host-${worker}": the host steps of target ${name} would wait for one; start one there: rollback worker --host ${worker}`,
  );
  expect(r.stdout.trim().split('\n').at(-1)).toBe('0 failures, 1 warning');

  const rep = report(await doctor(['--config', file, 'doctor', '--task-queue', taskQueue, '--json']));
  expect(rep.ok).toBe(true);
  expect(check(rep, `host worker ${worker}`)).toMatchObject({
    status: 'warn',
    fix: `rollback worker --host ${worker}`,
  });
});

test('no server at the address: exit 1 at once, saying it cannot reach it', async () => {
  const began = Date.now();
  const r = await doctor(['--address', '127.0.0.1:1', 'doctor']);
  expect(Date.now() - began).toBeLessThan(8000);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain('FAIL reachable: cannot reach 127.0.0.1:1: connection refused');
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace

  const rep = report(await doctor(['--address', '127.0.0.1:1', 'doctor', '--json']));
  expect(rep).toEqual({
    ok: false,
    checks: [
      { name: 'reachable', status: 'fail', detail: expect.stringContaining('cannot reach 127.0.0.1:1') },
    ],
  });
});

describe('a server without one of the search attributes', () => {
  let server: DevServer;
  const ownQueue = testTaskQueue('doctor-own');
  const temporal = ensureTemporalCli();
  const run = (args: string[]) => {
    const r = spawnSync(temporal, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`temporal ${args.join(' ')}: ${r.stderr || r.stdout}`);
  };

  beforeAll(async () => {
    server = await startDevServer({ dbFile: join(root, 'own', 'temporal.sqlite'), headless: true });
    cleanup.add('the second Temporal server', () => server.stop());
    // startDevServer registers every search attribute: take one away again.
    run([
      'operator',
      'search-attribute',
      'remove',
      '--address',
      server.address,
      '--namespace',
      server.namespace,
      '--name',
      'RollbackToVersion',
      '--yes',
    ]);
    const worker = await startWorker(ownQueue, server.address);
    cleanup.add('the worker of the second server', () => worker.stop());
    const client = await connectClient(ownQueue, server.address);
    try {
      await eventually('the worker to poll', async () => (await client.workerPresence()).polling, 60_000);
    } finally {
      await client.close();
    }
  });

  test('exit 1, naming it and the command that adds it; that command run, the check passes', async () => {
    const args = ['--address', server.address, 'doctor', '--task-queue', ownQueue];
    const fix = `temporal operator search-attribute create --namespace default --name RollbackToVersion --type Keyword --address ${server.address}`;
    const r = await eventually(
      'doctor to miss RollbackToVersion',
      async () => {
        const out = await doctor(args);
        return out.stdout.includes('RollbackToVersion missing') && out;
      },
      30_000,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `FAIL search attributes: RollbackToVersion missing in namespace default (rollbacks are started with them); add: ${fix}`,
    );
    expect(r.stdout).toMatch(/^ok {3}reachable: /m);
    expect(r.stdout).toMatch(/^ok {3}worker: /m);

    const rep = report(await doctor([...args, '--json']));
    expect(rep.ok).toBe(false);
    expect(check(rep, 'search attributes')).toMatchObject({ status: 'fail', fix });

    // The fix as printed, with the real Temporal CLI.
    const [program, ...rest] = fix.split(' ');
    expect(program).toBe('temporal');
    run(rest);

    const after = await eventually(
      'doctor to find every search attribute',
      async () => {
        const out = await doctor([...args, '--json']);
        return out.code === 0 && out;
      },
      30_000,
    );
    const healed = report(after);
    expect(healed.ok).toBe(true);
    expect(check(healed, 'search attributes')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('RollbackToVersion'),
    });
  });
});
