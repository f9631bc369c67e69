import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parse, stringify } from 'yaml';
import { join } from 'node:path';
import { parsePm2List } from '../src/activities/service';
import { GOOD_VERSION } from './rig/fixture-repo';
import { deployUser } from './rig/deploy-user';
import { eventually } from './rig/eventually';
import { rollbackSuite } from './rig/suite';
import { FIXTURE_TOOLS, health } from './rig/sandbox';
import { createSshSandbox, type SshSandbox } from './rig/ssh-sandbox';
import { startSshd, type TestSshd } from './rig/sshd';
import { listToolsHttp, runCli, startRollback } from './rig/rollback';
import { temporal } from '@temporalio/proto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultDeps } from '../src/activities';
import { validateActivities } from '../src/activities/validate';

/**
 * Rollbacks of a service on "another host": a real OpenSSH server on 127.0.0.1, the deployment in
 * the home of its login (rbdeploy, created by scripts/test-deploy-user.sh; not the user running the
 * worker), owned by that login and run under its own pm2. Every host step goes through the SSH
 * runner: git, npm ci, pm2, backups and restores over SFTP, the pid file of the install.
 */

const suite = rollbackSuite('ssh');
let sshd: TestSshd;
const user = deployUser();

beforeAll(async () => {
  sshd = await startSshd([], user.name);
  suite.defer('sshd', () => sshd.stop());
});

async function sandbox(name: string, opts: Partial<Parameters<typeof createSshSandbox>[0]> = {}) {
  const sb = await createSshSandbox({ name, sshd, ...opts });
  suite.defer(`ssh sandbox ${name}`, () => sb.cleanup());
  return sb;
}

/** The whole history as bytes, payloads included (the canary must be in none of them). */
async function historyText(workflowId: string): Promise<string> {
  const history = await suite.client.client.workflow.getHandle(workflowId).fetchHistory();
  return Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
}

function asUser(sb: SshSandbox, argv: string[]): string {
  return sb.user.run(argv).trim();
}

function pm2Online(sb: SshSandbox): string {
  return (
    parsePm2List(sb.pm2AsUser(['jlist'])).find((p) => p.name === `lightdash-${sb.target}`)?.pm2_env?.status ??
    'absent'
  );
}

/** Files under `dir` not owned by the login (none, when every change was made as that user). */
function notOwnedByUser(dir: string): string[] {
  return execFileSync('find', [dir, '!', '-user', String(user.uid)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
}

function readTree(dir: string): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .map((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? readTree(p) : readFileSync(p, 'utf8');
    })
    .join('\n');
}

/** Pids of the processes serving sshd's connections (not the listener, not the commands they run). */
function sshdSessionPids(): number[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const row of rows.filter((r) => r.ppid === parent && r.args.startsWith('sshd:'))) {
      found.push(row.pid);
      walk(row.pid);
    }
  };
  walk(sshd.pid);
  return found;
}

async function expectHealthyGood(sb: SshSandbox) {
  expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
  expect(await listToolsHttp(sb.port)).toHaveLength(FIXTURE_TOOLS);
  expect(pm2Online(sb)).toBe('online');
}

test('the rig logs in as another Unix user than the worker', () => {
  // Without root the rig cannot make a second user; then this says so instead of passing quietly.
  expect(user.separate).toBe(true);
  expect(sshd.ssh('id -un').trim()).toBe(user.name);
  expect(user.name).not.toBe(execFileSync('id', ['-un'], { encoding: 'utf8' }).trim());
});

test('an emergency rollback over SSH ends healthy, as the login, with .env byte-identical and no secret anywhere', async () => {
  // Every check from the host: HTTP through the SSH connection, the stdio server started there.
  const sb = await sandbox('ssh-em', {
    badMode: 'tools-missing',
    configure: (t) => {
      for (const check of ['health', 'mcp', 'latency']) t.validate[check].from = 'host';
    },
  });
  const envBefore = readFileSync(join(sb.deployPath, '.env'));
  const sessionsBefore = (sshd.log().match(/Starting session: command/g) ?? []).length;
  const started = await startRollback(suite.client, sb);
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const record = result.record!;
  expect(record.status).toBe('succeeded');
  expect(record.fromVersion).toBe('v1.20.2');
  expect(record.steps.every((s) => s.state === 'succeeded')).toBe(true);
  // The host steps ran over SSH: the plan put them there, and sshd served their commands.
  for (const step of started.plan.steps.filter((s) =>
    ['inspect', 'checkout', 'install', 'start'].includes(s.id),
  )) {
    expect(step.activity !== 'wait' && step.on).toEqual({
      ssh: expect.objectContaining({ user: user.name }),
    });
  }
  expect((sshd.log().match(/Starting session: command/g) ?? []).length).toBeGreaterThan(sessionsBefore + 10);
  const checks = ['validate-health', 'validate-mcp-http', 'validate-mcp-stdio', 'validate-latency'];
  for (const id of checks) {
    const step = started.plan.steps.find((s) => s.id === id)!;
    expect(step.activity !== 'wait' && step.on).toEqual({
      ssh: expect.objectContaining({ user: user.name }),
    });
    expect(record.steps.find((s) => s.id === id)!.summary).toContain(`from ${user.name}@127.0.0.1`);
  }
  expect(record.steps.find((s) => s.id === 'validate-mcp-stdio')!.summary).toContain(
    `${FIXTURE_TOOLS} tools over stdio`,
  );
  // The stdio server the check started on the host was ended with it.
  const stdioServers = execFileSync('ps', ['-u', String(user.uid), '-o', 'args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('server.js --stdio'));
  expect(stdioServers).toEqual([]);

  await expectHealthyGood(sb);
  expect(asUser(sb, ['git', '-C', sb.deployPath, 'describe', '--tags'])).toBe(`v${GOOD_VERSION}`);
  // Every file of the deployment, the backups and pm2's home belong to the login, not to root.
  expect(notOwnedByUser(sb.root).filter((f) => !f.startsWith(sb.reportsDir))).toEqual([]);
  expect(readFileSync(join(sb.deployPath, '.env')).equals(envBefore)).toBe(true);
  // The backup on the host is owner-only and checked: the manifest's sha256 matches the copy.
  const backupEnv = join(started.plan.backupPath, 'files', '.env');
  expect(statSync(backupEnv).mode & 0o777).toBe(0o600);
  expect(statSync(backupEnv).uid).toBe(user.uid);

  const history = await historyText(started.workflowId);
  expect(history).not.toContain(sb.secret);
  expect(readTree(sb.reportsDir)).not.toContain(sb.secret);
  expect(readTree(sb.reportsDir)).toContain('v1.20.2 → v1.11.4 (succeeded)');
});

test('a partial rollback over SSH sets the flag in the remote .env and restarts the service there', async () => {
  const sb = await sandbox('ssh-partial', {
    badMode: 'none',
    configure: (t) => {
      t.partial = { flags: { QURATOR: 'false' } };
    },
  });
  const pidBefore = sb.pm2AsUser(['pid', `lightdash-${sb.target}`]).trim();
  expect(pidBefore).toMatch(/^[1-9]\d*$/);
  const started = await startRollback(suite.client, sb, { kind: 'partial' });
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.status).toBe('succeeded');
  const env = readFileSync(join(sb.deployPath, '.env'), 'utf8');
  expect(env).toContain('QURATOR=false');
  expect(env).toContain(`LIGHTDASH_API_KEY=${sb.secret}`);
  expect(statSync(join(sb.deployPath, '.env')).uid).toBe(user.uid);
  expect(sb.pm2AsUser(['pid', `lightdash-${sb.target}`]).trim()).toMatch(/^[1-9]\d*$/);
  expect(sb.pm2AsUser(['pid', `lightdash-${sb.target}`]).trim()).not.toBe(pidBefore);
  expect(pm2Online(sb)).toBe('online');
  expect(await historyText(started.workflowId)).not.toContain(sb.secret);
});

test('a complete rollback over SSH reverts on the host, pushes as the login and redeploys the reverted head', async () => {
  const sb = await sandbox('ssh-complete', {
    configure: (t) => {
      t.approval = { required: { complete: false } };
      t.validate.health.expectVersion = false;
    },
  });
  const badCommit = asUser(sb, ['git', '-C', sb.remote, 'rev-parse', 'v1.20.2^{commit}']);
  const started = await startRollback(suite.client, sb, { kind: 'complete', commits: [badCommit] });
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.status).toBe('succeeded');
  const remoteHead = asUser(sb, ['git', '-C', sb.remote, 'rev-parse', 'main']);
  expect(asUser(sb, ['git', '-C', sb.remote, 'log', '-1', '--format=%B', 'main'])).toContain(
    started.request.rollbackId,
  );
  expect(asUser(sb, ['git', '-C', sb.deployPath, 'rev-parse', 'HEAD'])).toBe(remoteHead);
  expect(notOwnedByUser(sb.remote)).toEqual([]);
  await expectHealthyGood(sb);
});

test('a wrong pinned host key: refused before any command, naming both fingerprints; nothing changed', async () => {
  const other = `SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`;
  const sb = await sandbox('ssh-badkey', { ssh: { hostKeySha256: other } });
  const envBefore = readFileSync(join(sb.deployPath, '.env'));
  const logBefore = sshd.log().length;
  const started = await startRollback(suite.client, sb);
  const result = await suite.client.result(started.workflowId, started.runId);
  const record = result.record!;
  expect(record.status).not.toBe('succeeded');
  const inspect = record.steps.find((s) => s.id === 'inspect')!;
  expect(inspect.state).toBe('failed');
  expect(inspect.attempts).toBe(1); // not retried: someone must look
  expect(inspect.errorType).toBe('SshHostKeyMismatch');
  expect(inspect.lastError).toContain(sshd.fingerprint);
  expect(inspect.lastError).toContain(other);
  expect(record.steps.filter((s) => s.state === 'succeeded').map((s) => s.id)).toEqual([]);
  // sshd saw connections that never logged in, and no command.
  const log = sshd.log().slice(logBefore);
  expect(log).not.toMatch(/Accepted publickey|Starting session/);
  expect(readFileSync(join(sb.deployPath, '.env')).equals(envBefore)).toBe(true);
  expect(asUser(sb, ['git', '-C', sb.deployPath, 'describe', '--tags'])).toBe('v1.20.2');
  expect(existsSync(started.plan.backupPath)).toBe(false);
});

test('the SSH session killed during the install: the retry ends the orphan first, one install at a time, nothing done twice', async () => {
  // The install sleeps first, so the test can cut the connection while it runs.
  const sb = await sandbox('ssh-drop', {
    install: ['sh', '-c', 'sleep 4; exec npm ci --offline --no-audit --no-fund'],
  });
  const pidFile = join(sb.deployPath, '.rollback-install.pid');
  let most = 0;
  const installs = () =>
    execFileSync('ps', ['-u', String(user.uid), '-o', 'args='], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('sleep 4; exec npm ci') || /^npm ci\b/.test(l)).length;
  const sampler = setInterval(() => (most = Math.max(most, installs())), 100);
  try {
    const started = await startRollback(suite.client, sb);
    const orphan = await eventually(
      'the install to start on the host',
      () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0),
      60_000,
    );
    // The connection's sshd processes (the listening sshd's descendants named "sshd: …": the
    // privileged monitor and the user's session process) die; the install they started does not.
    const killed = sshdSessionPids();
    expect(killed.length).toBeGreaterThan(0);
    for (const pid of killed) process.kill(pid, 'SIGKILL');
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.error).toBeUndefined();
    const record = result.record!;
    expect(record.status).toBe('succeeded');
    const install = record.steps.find((s) => s.id === 'install')!;
    expect(install.attempts).toBe(2);
    expect(install.summary).toContain(`killed orphaned install ${orphan} first`);
    for (const id of ['inspect', 'resolve', 'backup', 'stop', 'checkout']) {
      expect(record.steps.find((s) => s.id === id)!.attempts).toBe(1);
    }
    expect(() => process.kill(orphan, 0)).toThrow();
    expect(existsSync(pidFile)).toBe(false);
  } finally {
    clearInterval(sampler);
  }
  expect(most).toBe(1);
  await expectHealthyGood(sb);
});

describe('checks from the host', () => {
  const acts = validateActivities(defaultDeps());
  const on = () => ({ ssh: { ...sshd.host, hostKeySha256: sshd.fingerprint } });
  let service: Server;
  let port: number;
  let peers: string[];

  beforeAll(async () => {
    peers = [];
    service = createServer((req, res) => {
      peers.push(`${req.socket.remoteAddress}`);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: 'healthy', version: '9.9.9' }));
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    port = (service.address() as AddressInfo).port;
    suite.defer('check service', () => new Promise<void>((r) => service.close(() => r())));
  });

  test('health and latency from the host go through the SSH connection (sshd refusing to forward fails them, naming the fix)', async () => {
    const url = `http://127.0.0.1:${port}/health`;
    const health = await acts.checkHealth(
      { url, expectedVersion: 'v9.9.9', timeoutSeconds: 5, from: 'host' },
      on(),
    );
    expect(health.summary).toContain(`from ${user.name}@127.0.0.1:${sshd.host.port}`);
    const latency = await acts.checkLatency({ url, samples: 3, maxAverageMs: 5000, from: 'host' }, on());
    expect(latency.data.samples).toBe(3);

    // The same checks through an sshd that forwards nothing cannot reach the service.
    const closed = await startSshd(['AllowTcpForwarding no'], user.name);
    try {
      const served = peers.length;
      const viaClosed = { ssh: { ...closed.host, hostKeySha256: closed.fingerprint } };
      const err = await acts.checkHealth({ url, timeoutSeconds: 1, from: 'host' }, viaClosed).then(
        () => undefined,
        (e: Error) => e.message,
      );
      expect(err).toContain(`did not open a connection to 127.0.0.1:${port}`);
      expect(err).toContain('AllowTcpForwarding');
      expect(peers.length).toBe(served);
    } finally {
      await closed.stop();
    }
  });

  test('a stdio server that cannot start on the host: the message names the host and ends with its stderr', async () => {
    const err = await acts
      .checkMcp(
        {
          transport: 'stdio',
          command: ['no-such-mcp-server', '--stdio'],
          cwd: user.home,
          timeoutSeconds: 10,
        },
        on(),
      )
      .then(
        () => undefined,
        (e: Error) => e.message,
      );
    expect(err).toContain(`stdio: no-such-mcp-server --stdio from ${user.name}@127.0.0.1`);
    expect(err).toContain('did not start or did not answer initialize');
    expect(err).toMatch(/no-such-mcp-server.*No such file or directory/);
  });
});

describe('checking SSH hosts before anything starts', () => {
  const stateEnv = { ROLLBACK_STATE_DIR: join(tmpdir(), `rollback-state-${process.pid}`) };
  afterAll(() => rmSync(stateEnv.ROLLBACK_STATE_DIR, { recursive: true, force: true }));
  let sb: SshSandbox;
  beforeAll(async () => {
    sb = await sandbox('ssh-check', { badMode: 'none' });
  });

  /** A copy of the sandbox's config with the target edited. */
  function variant(label: string, edit: (target: Record<string, any>) => void): string {
    const config = parse(readFileSync(sb.configFile, 'utf8')) as { targets: Record<string, any> };
    edit(config.targets[sb.target]);
    const file = join(sb.root, `rollback-${label}.yaml`);
    writeFileSync(file, stringify(config));
    return file;
  }

  test('config check logs in and reports the host ready; rollback hosts shows that last check', async () => {
    const before = await runCli(['--config', sb.configFile, 'hosts', '--json'], stateEnv);
    expect(JSON.parse(before.stdout)).toMatchObject({ hosts: [{ state: 'unchecked', via: 'ssh' }] });
    const r = await runCli(['--config', sb.configFile, 'config', 'check', '--json'], stateEnv);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      hosts: { target: string; host: string; reachable: boolean; checked: string[] }[];
    };
    expect(out.hosts).toEqual([
      expect.objectContaining({
        target: sb.target,
        host: `${user.name}@127.0.0.1:${sshd.host.port}`,
        reachable: true,
      }),
    ]);
    expect(out.hosts[0]!.checked.join('\n')).toMatch(
      /host key matches[\s\S]*git working copy[\s\S]*every program/,
    );
    const after = await runCli(['--config', sb.configFile, 'hosts'], stateEnv);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(
      new RegExp(
        `${user.name}@127\\.0\\.0\\.1:${sshd.host.port}\\s+ssh\\s+ready\\s+\\d+ s ago\\s+${sb.target}`,
      ),
    );
  });

  const other = `SHA256:${Buffer.alloc(32, 9).toString('base64').replace(/=+$/, '')}`;
  const cases: [string, (t: Record<string, any>) => void, RegExp][] = [
    ['unreachable', (t) => (t.host.ssh.port = 1), /cannot reach .*127\.0\.0\.1:1/],
    [
      'refused-key',
      (t) => (t.host.ssh.hostKeySha256 = other),
      new RegExp(`is SHA256:.*but the config pins ${other.replace(/[+/]/g, '\\$&')}`),
    ],
    [
      'wrong-user',
      (t) => (t.host.ssh.user = 'nosuchuser'),
      /nosuchuser@127\.0\.0\.1.*refused the worker's key/,
    ],
    [
      'npm-not-installed',
      (t) => {
        t.deploy = {
          type: 'npm-package',
          package: 'lightdash-mcp',
          prefix: `${user.home}/no-prefix`,
          stableVersion: '1.11.4',
        };
        t.configFiles = ['.env'];
      },
      new RegExp(`lightdash-mcp is not installed in ${user.home}/no-prefix/lib/node_modules/lightdash-mcp`),
    ],
    [
      'no-rights',
      (t) => (t.deploy.path = '/root/srv/app'),
      /deploy\.path \/root\/srv\/app is not a git working copy the login rbdeploy can read|deploy\.path \/root\/srv\/app is not a git working copy/,
    ],
  ];

  test.each(cases)(
    '%s: config check and start name the host and the problem; start exits 2 and starts nothing',
    async (label, edit, message) => {
      const file = variant(label, edit);
      const check = await runCli(['--config', file, 'config', 'check']);
      expect(check.code).toBe(2);
      expect(check.stderr).toMatch(message);
      expect(check.stderr).toContain(`target "${sb.target}" on `);
      const sessions = (sshd.log().match(/Starting session: command/g) ?? []).length;
      const start = await runCli([
        '--config',
        file,
        'start',
        'emergency',
        '--target',
        sb.target,
        '--reason',
        'bad release',
        '--task-queue',
        suite.taskQueue,
      ]);
      expect(start.code).toBe(2);
      expect(start.stderr).toMatch(message);
      expect(start.stderr).toContain('nothing was started');
      await expect(
        suite.client.client.workflow.getHandle(`rollback-${sb.target}`).describe(),
      ).rejects.toThrow(/not found/i);
      if (label === 'unreachable') {
        // hosts --check asks again, records the problem and exits 2.
        const hosts = await runCli(['--config', file, 'hosts', '--check', '--json'], stateEnv);
        expect(hosts.code).toBe(2);
        expect(JSON.parse(hosts.stdout)).toMatchObject({ hosts: [{ state: 'problem', via: 'ssh' }] });
        expect(JSON.parse(hosts.stdout).hosts[0].checks[0].problems[0]).toMatch(/cannot reach/);
        const human = await runCli(['--config', file, 'hosts', '--check'], stateEnv);
        expect(human.code).toBe(2);
        expect(human.stderr).toContain('1 host problem');
      }
      if (label !== 'no-rights' && label !== 'npm-not-installed') {
        // Refused at the door: no command ran on the host.
        expect((sshd.log().match(/Starting session: command/g) ?? []).length).toBe(sessions);
      }
    },
  );

  test('a host that is both ssh and worker is refused when the config loads', async () => {
    const file = variant('both', (t) => (t.host.worker = 'web-1'));
    const r = await runCli(['--config', file, 'config', 'check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('host');
    expect(r.stderr).toContain('either over ssh or through its own worker, not both');
  });

  test('a password in the ssh section is refused by name', async () => {
    const file = variant('password', (t) => (t.host.ssh.password = 'hunter2'));
    const r = await runCli(['--config', file, 'config', 'check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('password is not accepted in the config');
    expect(r.stderr).not.toContain('hunter2');
  });
});
