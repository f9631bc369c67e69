import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../model';
import { ensureTemporalCli } from './cli-binary';

export interface DevServerOptions {
  dbFile: string;
  port?: number;
  uiPort?: number;
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** Starts `temporal server start-dev` on a SQLite file, with our search attributes registered. */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const cli = ensureTemporalCli(opts.log);
  const port = opts.port ?? (await freePort());
  const uiPort = opts.uiPort ?? (await freePort());
  const namespace = opts.namespace ?? 'default';
  mkdirSync(dirname(opts.dbFile), { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    opts.dbFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=Keyword`]),
  ];
  if (opts.headless) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  const child = spawn(cli, args, { stdio: opts.stdio === 'inherit' ? 'inherit' : 'ignore', detached: false });
  const address = `127.0.0.1:${port}`;
  try {
    await waitForServer(address, 60_000, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address,
    uiUrl: opts.headless ? null : `http://127.0.0.1:${uiPort}`,
    namespace,
    process: child,
    stop: () =>
      new Promise<void>((resolveStop) => {
        if (child.exitCode !== null) return resolveStop();
        child.once('exit', () => resolveStop());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
