import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import type { SshHostSpec } from '../../model/hosts';
import type { HostFiles, HostProcess, RunOptions, RunResult, Runner, SpawnOptions } from '../types';
import { PID_MARKER, remoteCommand } from './command';
import { SftpFiles } from './files';
import { spawnOverSsh } from './process';
import { tunnelFetch } from './tunnel';
import {
  fingerprintOf,
  hostKeyAlgorithms,
  knownHostsName,
  normalisedFingerprint,
  pinnedKeys,
} from './host-keys';

export { remoteCommand, shellQuote } from './command';
export { fingerprintOf, pinnedKeys } from './host-keys';

/**
 * Runs commands on another host over SSH (the `ssh2` package, OpenSSH on the far end).
 *
 * - The host key is pinned, by its SHA-256 fingerprint or by a known_hosts file: there is no trust
 *   on first use. A key other than the pinned one fails at once, before any command, naming the
 *   fingerprint seen and the one expected; it is not retried, because someone must look.
 * - Commands are argv lists. Every element is quoted for the remote shell, so nothing in a version,
 *   a path or a flag is ever interpreted there.
 * - Environment values (env files' contents, tokens) travel in the script the remote shell reads
 *   from stdin, never on a command line the host's `ps` would show.
 * - The command runs as the leader of its own process group (sshd starts each session with
 *   setsid); a timeout or a cancellation kills the whole group through a second channel.
 */

/** Where and how to log in: the plan's SSH host (key file read when connecting, never copied). */
export type SshHost = SshHostSpec;

const MAX_CAPTURE = 1024 * 1024;
/** After a kill, how long the channel may stay open before this side closes it. */
const KILL_GRACE_MS = 5000;

function failure(type: string, message: string, nonRetryable: boolean): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable });
}

export class SshRunner implements Runner {
  constructor(
    readonly target: SshHost,
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    if (!target.hostKeySha256 && !target.knownHosts) {
      throw new Error(
        `ssh host ${target.host}: pin its key with hostKeySha256 or knownHosts (there is no trust on first use)`,
      );
    }
  }

  get where(): string {
    return `${this.target.user}@${this.target.host}:${this.target.port}`;
  }

  /** Checks the key a host shows against the pin, before any authentication or command. */
  private async verifier(): Promise<{
    verify: (key: Buffer) => boolean;
    problem: () => ApplicationFailure | undefined;
    /** The host-key algorithms to offer, when a known_hosts file says which key types are pinned. */
    algorithms?: string[];
  }> {
    let problem: ApplicationFailure | undefined;
    const { hostKeySha256, knownHosts, host, port } = this.target;
    let pins: ReturnType<typeof pinnedKeys> | undefined;
    if (knownHosts) {
      let text: string;
      try {
        text = await readFile(knownHosts, 'utf8');
      } catch (err) {
        throw failure(
          'SshHostKeyUnknown',
          `cannot read the known_hosts file ${knownHosts} pinned for ${this.where}: ${(err as Error).message}`,
          true,
        );
      }
      pins = pinnedKeys(text, host, port);
    }
    const verify = (key: Buffer): boolean => {
      const seen = fingerprintOf(key);
      if (hostKeySha256) {
        const expected = normalisedFingerprint(hostKeySha256);
        if (seen !== expected) {
          problem = failure(
            'SshHostKeyMismatch',
            `host key of ${this.where} is ${seen}, but the config pins ${expected}: the host was replaced or ` +
              'someone is in between; check the host, then update hostKeySha256 (pin the key the host offers first: its ed25519 ' +
              'key when it has one; to pin an RSA or ECDSA key, use knownHosts)',
            true,
          );
          return false;
        }
      }
      if (pins) {
        if (pins.revoked.some((k) => k.equals(key))) {
          problem = failure(
            'SshHostKeyMismatch',
            `host key ${seen} of ${this.where} is revoked in ${knownHosts}`,
            true,
          );
          return false;
        }
        if (!pins.keys.some((k) => k.equals(key))) {
          problem = failure(
            pins.keys.length ? 'SshHostKeyMismatch' : 'SshHostKeyUnknown',
            pins.keys.length
              ? `host key of ${this.where} is ${seen}, but ${knownHosts} pins ${pins.keys.map(fingerprintOf).join(', ')} ` +
                  'for it: the host was replaced or someone is in between; check the host, then update the file'
              : `${knownHosts} has no key for ${knownHostsName(host, port)} (the host showed ${seen}); add the host's ` +
                  'key to it after checking it out of band (ssh-keyscan output compared with the host console)',
            true,
          );
          return false;
        }
      }
      return true;
    };
    return {
      verify,
      problem: () => problem,
      algorithms: pins?.types.length ? hostKeyAlgorithms(pins.types) : undefined,
    };
  }

  private async auth(): Promise<Pick<ConnectConfig, 'privateKey' | 'agent'>> {
    const { identityFile, agent } = this.target;
    if (identityFile) {
      try {
        return { privateKey: await readFile(identityFile) };
      } catch (err) {
        throw failure(
          'SshIdentityMissing',
          `cannot read the SSH identity file ${identityFile} for ${this.where}: ${(err as Error).message}`,
          true,
        );
      }
    }
    if (agent) {
      const sock = this.env.SSH_AUTH_SOCK;
      if (!sock)
        throw failure(
          'SshIdentityMissing',
          `${this.where} uses the ssh-agent, but SSH_AUTH_SOCK is not set on the worker; start the worker with the agent's socket`,
          true,
        );
      return { agent: sock };
    }
    throw failure(
      'SshIdentityMissing',
      `${this.where}: say how to log in (identityFile or agent: true)`,
      true,
    );
  }

  /** One connection, ready for commands. The caller ends it. */
  async connect(): Promise<Client> {
    const [{ Client: SshClient }, { verify, problem, algorithms }, auth] = await Promise.all([
      import('ssh2'),
      this.verifier(),
      this.auth(),
    ]);
    const conn = new SshClient();
    return new Promise<Client>((resolve, reject) => {
      conn.once('ready', () => resolve(conn));
      conn.once('error', (err: Error & { level?: string }) => {
        conn.end();
        const pinned = problem();
        if (pinned) return reject(pinned);
        if (err.level === 'client-authentication')
          return reject(
            failure(
              'SshAuthFailed',
              `${this.where} refused the worker's key (${err.message}); authorise it on the host`,
              true,
            ),
          );
        reject(failure('SshUnreachable', `cannot reach ${this.where}: ${err.message}`, false));
      });
      try {
        conn.connect({
          host: this.target.host,
          port: this.target.port,
          username: this.target.user,
          ...auth,
          hostVerifier: verify,
          ...(algorithms ? { algorithms: { serverHostKey: algorithms as never } } : {}),
          readyTimeout: (this.target.connectTimeoutSeconds ?? 15) * 1000,
          keepaliveInterval: 5000,
          keepaliveCountMax: 3,
        });
      } catch (err) {
        // ssh2 refuses a key it cannot use (encrypted without a passphrase, unknown format) here.
        reject(
          failure(
            'SshIdentityMissing',
            `the SSH identity for ${this.where} cannot be used: ${(err as Error).message} (give the worker an unencrypted key file or use agent: true)`,
            true,
          ),
        );
      }
    });
  }

  async run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    return this.withSession((session) => session.run(argv, options));
  }

  /** One connection for a piece of work (an activity attempt): its commands and its files. */
  async withSession<T>(work: (session: SshSession) => Promise<T>): Promise<T> {
    const session = new SshSession(this, await this.connect());
    try {
      return await work(session);
    } finally {
      session.end();
    }
  }

  /** Runs one argv list on an open connection. */
  exec(conn: Client, argv: string[], options: RunOptions = {}): Promise<RunResult> {
    if (argv.length === 0) return Promise.reject(new Error('SshRunner.run needs a program to run'));
    const { command, script } = remoteCommand(argv, options);
    return new Promise<RunResult>((resolve, reject) => {
      conn.exec(command, (err, stream: ClientChannel) => {
        if (err)
          return reject(
            failure('SshUnreachable', `${this.where}: cannot run a command: ${err.message}`, false),
          );
        let stdout = '';
        let stderr = '';
        let pid: number | undefined;
        let pending = '';
        let timedOut = false;
        let closed = false;
        // Kills the command's process group (sshd made it a session leader) through a second channel.
        let forceClose: NodeJS.Timeout | undefined;
        const killGroup = () => {
          if (!pid || closed) return;
          conn.exec(`kill -KILL -- -${pid} 2>/dev/null || kill -KILL ${pid} 2>/dev/null`, (e, s) => {
            if (!e) s.resume().on('close', () => undefined);
          });
          // A daemon the command left holding its output (or a kill channel the host refused) would
          // keep the channel open for ever: close it from this side after a grace period.
          forceClose ??= setTimeout(() => closed || stream.close(), KILL_GRACE_MS);
        };
        stream.on('data', (d: Buffer) => {
          if (pid === undefined) {
            // The marker line comes first from our script, but a login shell's rc files may print
            // before it: that noise is dropped, the marker found wherever it starts a line.
            pending += d.toString();
            const at = pending.startsWith(PID_MARKER) ? 0 : pending.indexOf(`\n${PID_MARKER}`) + 1;
            const nl = at > 0 || pending.startsWith(PID_MARKER) ? pending.indexOf('\n', at) : -1;
            if (nl < 0) {
              if (pending.length > MAX_CAPTURE) {
                pid = 0; // no marker: run on, without the means to kill it
                stdout += pending;
                pending = '';
              }
              return;
            }
            pid = Number(pending.slice(at + PID_MARKER.length, nl));
            if (Number.isInteger(pid) && pid > 0) options.onSpawn?.(pid);
            else pid = 0;
            // A timeout or a cancellation that came before the pid: act on it now.
            if (timedOut || options.signal?.aborted) killGroup();
            stdout += pending.slice(nl + 1);
            pending = '';
            return;
          }
          if (stdout.length < MAX_CAPTURE) stdout += d.toString();
        });
        stream.stderr.on('data', (d: Buffer) => {
          if (stderr.length < MAX_CAPTURE) stderr += d.toString();
        });
        const timer = options.timeoutMs
          ? setTimeout(() => {
              timedOut = true;
              killGroup();
            }, options.timeoutMs)
          : undefined;
        const ticker = options.onTick ? setInterval(options.onTick, 2000) : undefined;
        const onAbort = () => killGroup();
        options.signal?.addEventListener('abort', onAbort, { once: true });
        const finish = () => {
          closed = true;
          if (timer) clearTimeout(timer);
          if (forceClose) clearTimeout(forceClose);
          if (ticker) clearInterval(ticker);
          options.signal?.removeEventListener('abort', onAbort);
        };
        const onConnError = (e: Error) => {
          finish();
          reject(
            failure(
              'SshUnreachable',
              `the connection to ${this.where} dropped while a command ran: ${e.message}`,
              false,
            ),
          );
        };
        conn.once('error', onConnError);
        stream.on('close', (code: number | null | undefined, signal?: string) => {
          finish();
          conn.off('error', onConnError);
          if (pending) stdout += pending;
          if (timedOut) stderr += `\n(killed after ${options.timeoutMs} ms timeout)`;
          // No exit status (ssh2 gives undefined or null): the host went away mid-command.
          if (code == null && !signal && !timedOut && !options.signal?.aborted) {
            return reject(
              failure('SshUnreachable', `the connection to ${this.where} closed while a command ran`, false),
            );
          }
          resolve({ exitCode: code ?? 128, stdout, stderr });
        });
        stream.end(script);
      });
    });
  }
}

/** An open connection to a host: commands, and its files over SFTP (opened on first use). */
export class SshSession implements Runner {
  private sftp?: Promise<SFTPWrapper>;

  constructor(
    private readonly runner: SshRunner,
    readonly conn: Client,
  ) {}

  run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    return this.runner.exec(this.conn, argv, options);
  }

  /** The host's files, through the SFTP subsystem of this connection. */
  files(): HostFiles {
    const sftp = () =>
      (this.sftp ??= new Promise<SFTPWrapper>((resolve, reject) =>
        this.conn.sftp((err, s) =>
          err
            ? reject(failure('SshUnreachable', `the host has no SFTP subsystem: ${err.message}`, false))
            : resolve(s),
        ),
      ));
    return new SftpFiles(sftp, this);
  }

  /** A program on the host with its pipes (an MCP server over stdio), on a channel of this connection. */
  spawn(argv: string[], options?: SpawnOptions): Promise<HostProcess> {
    return spawnOverSsh(this.conn, this.runner.where, argv, options);
  }

  /** HTTP from the host: requests go through channels sshd connects on the far end. */
  fetch(): typeof fetch {
    return tunnelFetch(this.conn, this.runner.where);
  }

  end(): void {
    this.conn.end();
  }
}
