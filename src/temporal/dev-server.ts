import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../model';
import { ensureTemporalCli } from './cli-binary';

export interface DevServerOptions {
  /** The SQLite file that keeps the server's state; none: in memory, gone when it stops. */
  dbFile?: string;
  /**
   * How the SQLite file is synced (a write-ahead log either way). 'normal' (default): a committed
   * change survives the server's crash or a kill, and the last ones before a power cut or a kernel
   * crash may be lost (never the file); 'full': every commit is on the disk before it is answered.
   */
  sqliteSync?: 'normal' | 'full';
  port?: number;
  uiPort?: number;
  /** The codec server the Web UI decodes payloads through (`rollback codec-server`). */
  uiCodecEndpoint?: string;
  namespace?: string;
  headless?: boolean;
  log?: (line: string) => void;
  /** Where the server's own output goes (default: discarded). */
  stdio?: 'ignore' | 'inherit';
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  namespace: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * A port that was free a moment ago. It is released before the caller binds it, so another process
 * can take it in between: bind port 0 where a server can report its port, else retry on a clash.
 */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? resolvePort(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * What the dev server is started with beyond its defaults. Its SQLite file keeps a write-ahead log
 * (the default rollback journal syncs the disk several times a commit, and every write of every
 * rollback waits on the one before). The history service reads the tasks a commit creates (a
 * workflow task after an activity, a child to start) at most 20 times a second by default, so
 * each step of a rollback waited up to 50 ms for its workflow task: read as soon as they are there.
 */
export function serverTuning(opts: Pick<DevServerOptions, 'dbFile' | 'sqliteSync'>): string[] {
  const sqlite = opts.dbFile
    ? ['journal_mode=wal', `synchronous=${opts.sqliteSync ?? 'normal'}`].flatMap((p) => [
        '--sqlite-pragma',
        p,
      ])
    : [];
  return [...sqlite, '--dynamic-config-value', 'history.transferProcessorMaxPollRPS=1000'];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server could not bind its port: another process holds it, or took it after it was found free. */
export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

export function isAddressInUse(text: string): boolean {
  return /address already in use|EADDRINUSE/i.test(text);
}

/** Waits until the frontend answers a real call (not just an open port). */
export async function waitForServer(
  address: string,
  timeoutMs = 60_000,
  child?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new Error(`temporal server exited with code ${child.exitCode}`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await conn.workflowService.getSystemInfo({});
        return;
      } finally {
        await conn.close();
      }
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`Temporal server at ${address} did not answer within ${timeoutMs} ms: ${lastError}`);
}

// The port is chosen before the server binds it, so another process can take it in between: a
// bind failure costs a new attempt (on new ports, unless the caller fixed them), not the start.
const START_ATTEMPTS = 4;

/** Starts `temporal server start-dev` on a SQLite file, with our search attributes registered. */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const cli = ensureTemporalCli(opts.log);
  if (opts.dbFile) mkdirSync(dirname(opts.dbFile), { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const uiPort = opts.headless ? undefined : (opts.uiPort ?? (await freePort()));
    try {
      return await startOnce(cli, opts, port, uiPort);
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt >= START_ATTEMPTS) throw err;
      opts.log?.(`${err.message}; starting the server again (attempt ${attempt + 1} of ${START_ATTEMPTS})`);
      // A port the caller fixed may just be lingering from a server that stopped a moment ago.
      if (opts.port !== undefined) await sleep(250 * attempt);
    }
  }
}

async function startOnce(
  cli: string,
  opts: DevServerOptions,
  port: number,
  uiPort: number | undefined,
): Promise<DevServer> {
  const namespace = opts.namespace ?? 'default';
  const args = [
    'server',
    'start-dev',
    ...(opts.dbFile ? ['--db-filename', opts.dbFile] : []),
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...serverTuning(opts),
    ...SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=Keyword`]),
  ];
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (uiPort !== undefined && opts.uiCodecEndpoint) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  const inherit = opts.stdio === 'inherit';
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  const spawnedAt = Date.now();
  // The banner is printed once this server has bound its ports: an answer before it may come from
  // another server that holds the port this one failed to bind (a CLI without the banner is trusted
  // once it has run for 10 s, long after it would have failed to bind).
  let banner = false;
  let stdoutTail = '';
  let stderrTail = '';
  child.stdout!.on('data', (d: Buffer) => {
    if (inherit) process.stdout.write(d);
    stdoutTail = (stdoutTail + d.toString()).slice(-200);
    if (stdoutTail.includes('Temporal Server:')) banner = true;
  });
  child.stderr!.on('data', (d: Buffer) => {
    if (inherit) process.stderr.write(d);
    stderrTail = (stderrTail + d.toString()).slice(-4000);
  });
  const address = `127.0.0.1:${port}`;
  const exitError = () => {
    const detail = stderrTail.trim().split('\n').slice(-3).join('\n');
    const message = `temporal server on ${address} exited with code ${child.exitCode}${detail ? `: ${detail}` : ''}`;
    return isAddressInUse(stderrTail) ? new PortInUseError(message) : new Error(message);
  };
  try {
    for (;;) {
      try {
        await waitForServer(address, 60_000, child);
      } catch (err) {
        if (child.exitCode !== null) throw exitError();
        throw err;
      }
      if (child.exitCode !== null) throw exitError();
      if (banner || Date.now() - spawnedAt > 10_000) break;
      await sleep(100);
    }
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address,
    uiUrl: uiPort === undefined ? null : `http://127.0.0.1:${uiPort}`,
    namespace,
    process: child,
    stop: () =>
      new Promise<void>((resolveStop) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolveStop();
        child.once('exit', () => resolveStop());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
