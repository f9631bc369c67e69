import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { userInfo, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAddressInUse, PortInUseError } from '../../src/temporal/dev-server';
import type { SshHost } from '../../src/runner/ssh';
import { Cleanup } from './cleanup';
import { withFreshPort } from './ports';
import { installedTool, stopChild } from './tools';

/**
 * A real OpenSSH server on 127.0.0.1 and a port of its own, with fresh ed25519 host and client keys
 * (scripts/install-sshd.sh finds or unpacks sshd). Logins as the user running the tests, by key only.
 */
export interface TestSshd {
  host: SshHost;
  /** The host key's fingerprint, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** A known_hosts file that pins this server's key. */
  knownHosts: string;
  dir: string;
  /** Runs a command on the host with OpenSSH's own client (to check what the runner did). */
  ssh(command: string): string;
  /** The listening sshd's pid (each connection is served by a child of it). */
  pid: number;
  /** What sshd logged so far (LogLevel VERBOSE: logins, and each session's command). */
  log(): string;
  stop(): Promise<void>;
}

function sshdTools(): { sshd: string; sftp: string; libs: string } {
  const field = installedTool('install-sshd.sh');
  return { sshd: field('SSHD'), sftp: field('SFTP'), libs: field('LD_LIBRARY_PATH') };
}

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rollback-test', '-f', file]);
}

/**
 * `extraConfig`: more sshd_config lines (e.g. a ForceCommand that prints login noise); `user`: the
 * login (default: the user running the tests).
 */
export async function startSshd(extraConfig: string[] = [], user = userInfo().username): Promise<TestSshd> {
  const cleanup = new Cleanup();
  try {
    const tools = sshdTools();
    const dir = mkdtempSync(join(tmpdir(), 'rollback-sshd-'));
    cleanup.add('the sshd folder', () => rmSync(dir, { recursive: true, force: true }));
    keygen(join(dir, 'host_key'));
    keygen(join(dir, 'client_key'));
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')), { mode: 0o644 });
    // sshd reads authorized_keys as the login user, who may not be the user running the tests.
    chmodSync(dir, 0o755);
    const fingerprint = execFileSync('ssh-keygen', ['-lf', join(dir, 'host_key.pub')], {
      encoding: 'utf8',
    }).split(' ')[1]!;

    const { value: child, reservation } = await withFreshPort('sshd', (port) =>
      launch(tools, dir, port, extraConfig),
    );
    cleanup.add('the sshd port', () => reservation.release());
    cleanup.add('sshd', () => stopChild(child));
    const port = reservation.port;
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${port} ${readFileSync(join(dir, 'host_key.pub'), 'utf8')}`);
    const host: SshHost = {
      host: '127.0.0.1',
      port,
      user,
      identityFile: join(dir, 'client_key'),
      hostKeySha256: fingerprint,
    };
    const ssh = (command: string) =>
      execFileSync(
        'ssh',
        [
          '-F',
          '/dev/null',
          '-o',
          'BatchMode=yes',
          '-o',
          `UserKnownHostsFile=${knownHosts}`,
          '-o',
          'StrictHostKeyChecking=yes',
          '-i',
          join(dir, 'client_key'),
          '-p',
          String(port),
          `${host.user}@127.0.0.1`,
          command,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
    return {
      host,
      fingerprint,
      knownHosts,
      dir,
      ssh,
      pid: child.pid!,
      log: () => logs.get(child) ?? '',
      stop: () => cleanup.run(),
    };
  } catch (err) {
    return cleanup.abandon(err);
  }
}

const logs = new WeakMap<ChildProcess, string>();

/**
 * sshd runs the SFTP server as the login, who may not reach into this checkout (a clone in a
 * private folder, with OpenSSH unpacked into its .tools): a copy in the sshd's own folder (0755),
 * which it can. The program needs only libc.
 */
function reachableSftp(sftp: string, dir: string): string {
  const copy = join(dir, 'sftp-server');
  if (!existsSync(copy)) copyFileSync(sftp, copy);
  chmodSync(copy, 0o755);
  return copy;
}

function launch(
  tools: { sshd: string; sftp: string; libs: string },
  dir: string,
  port: number,
  extraConfig: string[],
): Promise<ChildProcess> {
  const config = join(dir, `sshd_config_${port}`);
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'LogLevel VERBOSE',
      ...(tools.sftp ? [`Subsystem sftp ${reachableSftp(tools.sftp, dir)}`] : []),
      ...extraConfig,
      '',
    ].join('\n'),
  );
  const child = spawn(tools.sshd, ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...(tools.libs ? { LD_LIBRARY_PATH: tools.libs } : {}) },
  });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sshd did not start listening on ${port} within 15 s: ${log}`));
    }, 15_000);
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      logs.set(child, log);
      if (log.includes('Server listening on')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(
        isAddressInUse(log)
          ? new PortInUseError(log.trim())
          : new Error(`sshd exited (${code}): ${log.trim()}`),
      );
    });
  });
}
