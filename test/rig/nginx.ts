import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAddressInUse, PortInUseError } from '../../src/temporal/dev-server';
import { Cleanup } from './cleanup';
import { portRefuses, withFreshPort } from './ports';
import { installedTool, stopChild } from './tools';

/**
 * A real nginx (Debian's, unpacked by scripts/install-nginx.sh when the machine has none) in front
 * of a blue-green pair: it listens on 127.0.0.1 and a port of its own and proxies to the upstream
 * named in `upstreamFile`, a file the rollback rewrites. `command` is how the target runs it
 * (`-t`, `-s reload` are added), with this prefix and configuration.
 */
export interface TestNginx {
  port: number;
  url: string;
  /** nginx's main configuration (a test may break it to see `nginx -t` refuse). */
  conf: string;
  upstreamFile: string;
  upstream: string;
  command: string[];
  log(): string;
  stop(): Promise<void>;
}

/** nginx's main configuration around the given `http` block lines (its temp paths in `dir`). */
export function mainConf(dir: string, http: string[]): string {
  const tmp = join(dir, 'tmp');
  return [
    'daemon off;',
    `pid ${join(dir, 'nginx.pid')};`,
    'error_log stderr notice;',
    'events { worker_connections 256; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${tmp};`),
    ...http.map((line) => `  ${line}`),
    '}',
    '',
  ].join('\n');
}

/** nginx's main configuration: one server proxying everything to the upstream the file defines. */
export function nginxConf(dir: string, port: number, upstreamFile: string, upstream: string): string {
  return mainConf(dir, [
    `include ${upstreamFile};`,
    `server { listen 127.0.0.1:${port}; location / { proxy_pass http://${upstream}; } }`,
  ]);
}

export interface RunningNginx {
  port: number;
  dir: string;
  conf: string;
  /** How to run it again (`-t`, `-s reload` are added): this binary, prefix and configuration. */
  command: string[];
  log(): string;
  stop(): Promise<void>;
}

/**
 * A real nginx (Debian's, unpacked by scripts/install-nginx.sh when the machine has none) with a
 * folder of its own and the configuration `confFor` writes for the port it is given: started on a
 * reserved port, retried on a new one when that port was taken, ready once the port answers.
 */
export async function runNginx(
  what: string,
  confFor: (port: number, dir: string) => string,
  prepare: (dir: string) => void = () => undefined,
): Promise<RunningNginx> {
  const cleanup = new Cleanup();
  try {
    const bin = installedTool('install-nginx.sh')('NGINX');
    const dir = mkdtempSync(join(tmpdir(), 'rollback-nginx-'));
    cleanup.add(`the folder of ${what}`, () => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'tmp'));
    mkdirSync(join(dir, 'logs'));
    prepare(dir);
    const conf = join(dir, 'nginx.conf');
    const command = [bin, '-p', dir, '-c', conf];
    let log = '';
    const { value: child, reservation } = await withFreshPort(what, async (port) => {
      writeFileSync(conf, confFor(port, dir));
      const proc = spawn(bin, ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const deadline = Date.now() + 15_000;
      for (;;) {
        if (proc.exitCode !== null) {
          throw isAddressInUse(log)
            ? new PortInUseError(log.trim())
            : new Error(`nginx exited: ${log.trim()}`);
        }
        if (!(await portRefuses(port))) return proc;
        if (Date.now() > deadline) {
          proc.kill('SIGKILL');
          throw new Error(`nginx did not listen on ${port} within 15 s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    cleanup.add(`the port of ${what}`, () => reservation.release());
    cleanup.add(what, () => stopChild(child, 'SIGQUIT'));
    return { port: reservation.port, dir, conf, command, log: () => log, stop: () => cleanup.run() };
  } catch (err) {
    return cleanup.abandon(err);
  }
}

export async function startNginx(initialUpstream: string, upstream = 'app'): Promise<TestNginx> {
  let upstreamFile = '';
  const nginx = await runNginx(
    'nginx',
    (port, dir) => nginxConf(dir, port, upstreamFile, upstream),
    (dir) => {
      upstreamFile = join(dir, 'upstream.conf');
      writeFileSync(upstreamFile, initialUpstream);
    },
  );
  return { ...nginx, url: `http://127.0.0.1:${nginx.port}`, upstreamFile, upstream };
}
