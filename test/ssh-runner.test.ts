import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { spawnLocal } from '../src/runner/local-process';
import { remoteCommand, SshRunner, SshSession, shellQuote } from '../src/runner/ssh';
import { eventually } from './rig/eventually';
import { startSshd, type TestSshd } from './rig/sshd';

/** The SSH runner against a real OpenSSH server on this machine (test/rig/sshd.ts). */

let sshd: TestSshd;

beforeAll(async () => {
  sshd = await startSshd();
});

const opened: SshSession[] = [];

afterAll(() => {
  for (const s of opened) s.end();
  return sshd?.stop();
});

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

test('runs an argv list on the host, in its folder, with its environment, and reports exit code and output', async () => {
  const runner = new SshRunner(sshd.host);
  const r = await runner.run(['sh', '-c', 'pwd; printf "%s" "$GREETING"; echo oops >&2; exit 3'], {
    cwd: sshd.dir,
    env: { GREETING: 'hello there' },
  });
  expect(r).toEqual({ exitCode: 3, stdout: `${sshd.dir}\nhello there`, stderr: 'oops\n' });
});

test('every argument reaches the program as it was written: nothing is interpreted by the remote shell', async () => {
  const marker = join(sshd.dir, 'injected');
  const nasty = [`$(touch ${marker})`, `; touch ${marker}`, "it's", '"quoted" \\ `x`', '*', '  spaces  ', ''];
  const r = await new SshRunner(sshd.host).run(['printf', '%s\\n', ...nasty]);
  expect(r.exitCode).toBe(0);
  expect(r.stdout).toBe(nasty.map((a) => `${a}\n`).join(''));
  expect(existsSync(marker)).toBe(false);
});

test('environment values travel in the script on stdin, never on a command line the host could show', () => {
  const { command, script } = remoteCommand(['node', 'server.js'], {
    env: { TOKEN: "s3cr3t'value" },
    replaceEnv: true,
  });
  expect(command).not.toContain('s3cr3t');
  expect(script).toContain(`export TOKEN=${shellQuote("s3cr3t'value")}`);
});

test('replaceEnv: the command sees only the given environment and the host PATH and HOME', async () => {
  const r = await new SshRunner(sshd.host).run(['sh', '-c', 'env | cut -d= -f1 | sort | tr "\\n" " "'], {
    env: { ONLY_THIS: '1' },
    replaceEnv: true,
  });
  expect(
    r.stdout
      .trim()
      .split(' ')
      .filter((n) => !['PWD', 'SHLVL', '_'].includes(n)),
  ).toEqual(['HOME', 'ONLY_THIS', 'PATH', 'USER']);
});

test('the remote pid is reported, and a timeout kills the command on the host', async () => {
  const pids: number[] = [];
  const r = await new SshRunner(sshd.host).run(['sleep', '30'], {
    timeoutMs: 1000,
    onSpawn: (pid) => pids.push(pid),
  });
  expect(r.stderr).toContain('killed after 1000 ms timeout');
  expect(pids).toHaveLength(1);
  await eventually(
    'the remote sleep gone',
    () => sshd.ssh(`kill -0 ${pids[0]} 2>/dev/null && echo alive || echo gone`).trim() === 'gone',
  );
});

test('a timeout that fires before the remote pid is known still kills the command once the pid arrives', async () => {
  // Were the kill lost, this would run for 300 s, past the test's timeout.
  const r = await new SshRunner(sshd.host).run(['sleep', '300'], { timeoutMs: 1 });
  expect(r.stderr).toContain('killed after 1 ms timeout');
}, 120_000);

test('an aborted run (a cancelled activity) kills the command on the host', async () => {
  const controller = new AbortController();
  const pids: number[] = [];
  const run = new SshRunner(sshd.host).run(['sleep', '30'], {
    signal: controller.signal,
    onSpawn: (pid) => {
      pids.push(pid);
      controller.abort();
    },
  });
  const r = await run;
  expect(r.exitCode).not.toBe(0);
  await eventually(
    'the remote sleep gone',
    () => sshd.ssh(`kill -0 ${pids[0]} 2>/dev/null && echo alive || echo gone`).trim() === 'gone',
  );
});

test('a host key other than the pinned fingerprint fails before any command, naming both keys, not retryable', async () => {
  const marker = join(sshd.dir, 'ran-despite-mismatch');
  const wrong = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  const f = await failureOf(new SshRunner({ ...sshd.host, hostKeySha256: wrong }).run(['touch', marker]));
  expect(f.type).toBe('SshHostKeyMismatch');
  expect(f.nonRetryable).toBe(true);
  expect(f.message).toContain(sshd.fingerprint);
  expect(f.message).toContain(wrong);
  expect(existsSync(marker)).toBe(false);
});

test('a known_hosts file pins the key; a file without the host refuses it (no trust on first use)', async () => {
  const pinnedByFile = { ...sshd.host, hostKeySha256: undefined, knownHosts: sshd.knownHosts };
  expect((await new SshRunner(pinnedByFile).run(['true'])).exitCode).toBe(0);

  const other = join(sshd.dir, 'known_hosts_other');
  writeFileSync(
    other,
    '[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0/Ps9zCNoLELqjYoLlDCOg9i8xr9dG8ZSBQFHXSzpv\n',
  );
  const f = await failureOf(new SshRunner({ ...pinnedByFile, knownHosts: other }).run(['true']));
  expect(f.type).toBe('SshHostKeyUnknown');
  expect(f.nonRetryable).toBe(true);
  expect(f.message).toContain(sshd.fingerprint);
});

test('a config without a pinned key is refused at construction', () => {
  expect(() => new SshRunner({ ...sshd.host, hostKeySha256: undefined })).toThrow(
    /pin its key with hostKeySha256 or knownHosts/,
  );
});

test('a key the host does not authorise fails as SshAuthFailed (not retried); a closed port as SshUnreachable (retried)', async () => {
  // The host's own key: a valid private key the host has not authorised for logins.
  const bad = await failureOf(
    new SshRunner({ ...sshd.host, identityFile: join(sshd.dir, 'host_key') }).run(['true']),
  );
  expect(bad.type).toBe('SshAuthFailed');
  expect(bad.nonRetryable).toBe(true);

  const missing = await failureOf(
    new SshRunner({ ...sshd.host, identityFile: join(sshd.dir, 'nope') }).run(['true']),
  );
  expect(missing.type).toBe('SshIdentityMissing');

  const closed = await failureOf(new SshRunner({ ...sshd.host, port: 1 }).run(['true']));
  expect(closed.type).toBe('SshUnreachable');
  expect(closed.nonRetryable).toBe(false);
});

test('login noise printed before the command (rc files) is dropped, and the command can still be killed', async () => {
  // A host whose login prints a banner on stdout before running anything, as rc files do.
  const noisy = await startSshd([
    'ForceCommand /bin/sh -c \'echo "welcome to the box"; eval "$SSH_ORIGINAL_COMMAND"\'',
  ]);
  try {
    const runner = new SshRunner(noisy.host);
    const r = await runner.run(['printf', '%s', 'only this']);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'only this' });
    const pids: number[] = [];
    const slow = await runner.run(['sleep', '300'], { timeoutMs: 500, onSpawn: (pid) => pids.push(pid) });
    expect(slow.stderr).toContain('killed after 500 ms timeout');
    expect(pids).toHaveLength(1);
  } finally {
    await noisy.stop();
  }
}, 120_000);

test('a connection that drops mid-command fails as SshUnreachable, retryable, not as an exit code', async () => {
  const runner = new SshRunner(sshd.host);
  let pid = 0;
  const run = runner.run(['sleep', '300'], { onSpawn: (p) => (pid = p) });
  await eventually('the remote pid', () => pid > 0);
  // Kill the sshd session process serving this connection, as a host reboot would.
  sshd.ssh(`kill -KILL $(ps -o ppid= -p ${pid}); kill -KILL ${pid}`);
  const f = await failureOf(run);
  expect(f.type).toBe('SshUnreachable');
  expect(f.nonRetryable).toBe(false);
}, 120_000);

test('a timed-out command whose daemon keeps its output open still returns after the kill grace', async () => {
  // The background sleep escapes the process group (setsid) and holds stdout: only closing the
  // channel from this side ends the run. Were that missing, the run would last 300 s.
  const r = await new SshRunner(sshd.host).run(['sh', '-c', 'setsid sleep 299 & exec sleep 300'], {
    timeoutMs: 500,
  });
  expect(r.stderr).toContain('killed after 500 ms timeout');
  sshd.ssh('pkill -f "^sleep 299" || true');
}, 120_000);

test.each([
  ['this machine', () => Promise.resolve(spawnLocal)],
  [
    'a host over SSH',
    async () => {
      const runner = new SshRunner(sshd.host);
      const session = new SshSession(runner, await runner.connect());
      opened.push(session);
      return (argv: string[]) => session.spawn(argv);
    },
  ],
])(
  'a spawned program that exits before anyone reads it (%s): its output is all read when `exited` resolves',
  async (_where, spawnerOf) => {
    const spawn = await spawnerOf();
    const proc = await spawn(['sh', '-c', 'echo out; echo "cannot start: No such file or directory" >&2; exit 127']);
    // Let it exit, and its output and the channel's close arrive, before any reader is attached:
    // a fast host sends all of them in one packet after the exec is confirmed.
    await new Promise((r) => setTimeout(r, 1000));
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await proc.exited;
    expect(err).toBe('cannot start: No such file or directory\n');
    expect(out).toBe('out\n');
  },
  60_000,
);
