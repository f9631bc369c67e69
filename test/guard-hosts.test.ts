import { mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { RollbackClient } from '../src/client';
import { createActivities, defaultDeps } from '../src/activities';
import { signalActivities, type SampleRequest } from '../src/activities/signals';
import { GuardClient } from '../src/guard-client';
import { hostLabel, targetHost } from '../src/model/hosts';
import { pm2ServiceOf, resolveGuard } from '../src/targets/guard';
import { getTarget, loadConfig } from '../src/targets/load';
import { Cleanup } from './rig/cleanup';
import { commandTarget } from './rig/configs';
import { eventually } from './rig/eventually';
import { createFakeActivities } from './rig/fake-activities';
import { runCli } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';
import { createSshSandbox } from './rig/ssh-sandbox';
import { startSshd, type TestSshd } from './rig/sshd';
import { portRefuses } from './rig/ports';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { killHard, spawnHostWorker } from './rig/worker-process';
import { parsePm2List } from '../src/activities/service';

/**
 * The guard's process-memory and error-log signals where the service runs: over a real SSH login
 * (the deploy user's pm2 and log file, through sshd on 127.0.0.1), and on a host with its own worker
 * (`rollback worker --host NAME` in a process of its own), whose queue the guard sends them to.
 */

const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-guard-hosts-'));
const taskQueue = testTaskQueue('guard-hosts');
let sshd: TestSshd;
let client: RollbackClient;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));
  sshd = await startSshd([], (await import('./rig/deploy-user')).deployUser().name);
  cleanup.add('sshd', () => sshd.stop());
  const { sendNotification } = createActivities(defaultDeps());
  const worker = await startWorker(taskQueue, undefined, { ...createFakeActivities(), sendNotification });
  cleanup.add('the worker', () => worker.stop());
  client = await connectClient(taskQueue);
  cleanup.add('the client', () => client.close());
  cleanup.add('host workers', async () => {
    for (const w of workers) await killHard(w);
  });
});

afterAll(() => cleanup.run());

/** A port nothing listens on (one the kernel just gave out, closed again). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

test('over SSH: the pm2 process memory is read on the host through its own pm2, the error log through SFTP; a host that refuses gives a note, not a failure', async () => {
  const sb = await createSshSandbox({ name: 'guard-ssh', sshd });
  cleanup.add('the ssh sandbox', () => sb.cleanup());
  const log = join(sb.root, 'app.log');
  sb.user.run(['sh', '-c', `echo starting >> ${log}`]);
  const loaded = loadConfig(sb.configFile);
  const target = getTarget(loaded, sb.target);
  const spec = resolveGuard(
    sb.target,
    {
      sources: {},
      rules: [
        {
          name: 'memory',
          signal: { type: 'process-memory', pm2: { name: `lightdash-${sb.target}` }, unit: 'mb' },
          above: 4096,
        },
        { name: 'errors', signal: { type: 'error-log', file: log, patterns: ['ERROR'] }, above: 0 },
      ],
      intervalSeconds: 30,
      coolDownSeconds: 3600,
      maintenance: [],
      samplesPerRun: 500,
    },
    sb.configFile,
    { host: targetHost(target), pm2: pm2ServiceOf(target) },
  );
  // The signals carry the target's host, and the target's pm2 (the deploy user's, its PM2_HOME).
  const memory = spec.rules[0].signal;
  expect(memory).toMatchObject({
    on: { ssh: { port: sshd.host.port } },
    pm2: { home: sb.pm2Home, command: sb.pm2 },
  });

  const { sampleSignals } = signalActivities(defaultDeps());
  const requests = (offset?: number, sinceMs?: number): SampleRequest[] =>
    spec.rules.map((r) => ({
      rule: r.name,
      signal: r.signal,
      ...(r.name === 'errors' ? { offset, sinceMs } : {}),
    }));
  const first = await sampleSignals({ samples: requests() });
  const pid = parsePm2List(sb.pm2AsUser(['jlist'])).find((p) => p.name === `lightdash-${sb.target}`)!.pid!;
  const rssMb =
    Number(/VmRSS:\s+(\d+) kB/.exec(execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }))![1]) /
    1024;
  const mem = first.find((r) => r.rule === 'memory')!;
  expect(mem.note).toBe(`pid ${pid} on ${hostLabel(targetHost(target))}`);
  expect(mem.value).toBeGreaterThan(rssMb * 0.5);
  expect(mem.value).toBeLessThan(rssMb * 2);
  const errors0 = first.find((r) => r.rule === 'errors')!;
  expect(errors0).toMatchObject({ note: 'reading from here on', offset: 'starting\n'.length });

  // Three error lines and one other written on the host, as its user; a half-written line waits.
  const since = Date.now() - 60_000;
  sb.user.run(['sh', '-c', `printf 'ERROR a\\nok\\nERROR b\\nERROR c\\nERROR half' >> ${log}`]);
  const second = await sampleSignals({ samples: requests(errors0.offset, since) });
  const errors = second.find((r) => r.rule === 'errors')!;
  expect(errors.note).toMatch(/^3 matching line\(s\) in 6\d s$/);
  expect(errors.value).toBeGreaterThan(2.5);
  expect(errors.value).toBeLessThanOrEqual(3);
  expect(errors.offset).toBe('starting\nERROR a\nok\nERROR b\nERROR c\n'.length);

  // A host that does not answer: every rule says why, and the activity itself does not fail.
  const port = await closedPort();
  expect(await portRefuses(port)).toBe(true);
  const gone = spec.rules.map((r) => ({
    rule: r.name,
    signal: { ...r.signal, on: { ssh: { ...(targetHost(target) as { ssh: object }).ssh, port } } },
  })) as SampleRequest[];
  const refused = await sampleSignals({ samples: gone });
  expect(refused.map((r) => r.value)).toEqual([undefined, undefined]);
  for (const r of refused) expect(r.note).toMatch(/ECONNREFUSED|refused/i);
});

test('on a host with its own worker: the guard sends the log samples to that worker; without one it says so; rollback guard start refuses while none polls', async () => {
  const worker = `gw-${randomBytes(3).toString('hex')}`;
  const name = 'guard-hostw';
  const dir = join(root, name);
  mkdirSync(join(dir, 'srv'), { recursive: true });
  execFileSync('git', ['init', '-q', join(dir, 'srv')]);
  const log = join(dir, 'app.log');
  writeFileSync(log, 'starting\n');
  const file = join(dir, 'rollback.yaml');
  writeFileSync(
    file,
    stringify({
      version: 1,
      targets: {
        [name]: {
          ...commandTarget(name, join(dir, 'srv'), dir),
          host: { worker },
          guard: {
            intervalSeconds: 0.5,
            rules: [
              {
                name: 'errors',
                signal: { type: 'error-log', file: log, patterns: ['FATAL'] },
                above: 10,
                forSeconds: 1,
                action: 'propose',
              },
            ],
          },
        },
      },
    }),
  );

  // The CLI refuses while no worker polls the host's queue, and starts nothing.
  const refused = await runCli([
    '--config',
    file,
    'guard',
    'start',
    '--target',
    name,
    '--task-queue',
    taskQueue,
  ]);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain(`no worker for host ${worker} polls task queue "rollback-host-${worker}"`);
  expect(refused.stderr).toContain(`rollback worker --host ${worker}`);
  const guards = new GuardClient(client);
  await expect(guards.status(name)).rejects.toThrow(/no guard/i);

  // Started anyway (through the client): the main worker does not read the host's log itself.
  const loaded = loadConfig(file);
  const target = getTarget(loaded, name);
  await guards.start(resolveGuard(name, target.guard!, file, { host: targetHost(target) }));
  cleanup.add('the guard', () => guards.stop(name, 'test').catch(() => undefined));
  const waiting = await eventually(
    'the guard notes the missing host worker',
    async () => (await guards.status(name)).rules[0].last?.note,
    60_000,
    500,
  );
  expect(waiting).toContain(`no answer from the worker on ${worker} (rollback-host-${worker})`);

  workers.push(await spawnHostWorker(client.address, worker, { cwd: dir }));
  await eventually(
    'the host worker reads the log',
    async () => (await guards.status(name)).rules[0].last?.note?.startsWith('reading from here on') ?? false,
    60_000,
    250,
  );
  // 30 FATAL lines a second on the host: well above 10 a minute, for longer than the window.
  const timer = setInterval(() => appendFileSync(log, 'FATAL boom\n'.repeat(15)), 500);
  try {
    const proposed = await eventually(
      'the guard proposes a rollback',
      async () => (await guards.status(name)).state.actions.find((a) => a.action === 'proposed'),
      60_000,
      250,
    );
    expect(proposed.detail).toMatch(/errors: .*> 10/);
  } finally {
    clearInterval(timer);
  }
  expect(await client.list({ target: name })).toEqual([]);
});
