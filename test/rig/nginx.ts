import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAddressInUse, PortInUseError } from '../../src/temporal/dev-server';
import { Cleanup } from './cleanup';
import { withFreshPort } from './ports';
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

/** nginx's main configuration: one server proxying everything to the upstream the file defines. */
export function nginxConf(dir: string, port: number, upstreamFile: string, upstream: string): string {
  const tmp = join(dir, 'tmp');
  return [
    'daemon off;',
    `pid ${join(dir, 'nginx.pid')};`,
    'error_log stderr notice;',
    'events { worker_connections 64; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${tmp};`),
    `  include ${upstreamFile};`,
    `  server { listen 127.0.0.1:${port}; location / { proxy_pass http://${upstream}; } }`,
    '}',
    '',
  ].join('\n');
}

export async function startNginx(initialUpstream: string, upstream = 'app'): Promise<TestNginx> {
  const cleanup = new Cleanup();
  try {
    const bin = installedTool('install-nginx.sh')('NGINX');
    const dir = mkdtempSync(join(tmpdir(), 'rollback-nginx-'));
    cleanup.add('the nginx folder', () => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'tmp'));
    mkdirSync(join(dir, 'logs'));
    const conf = join(dir, 'nginx.conf');
    const upstreamFile = join(dir, 'upstream.conf');
    writeFileSync(upstreamFile, initialUpstream);
    const command = [bin, '-p', dir, '-c', conf];
    let log = '';
    const { value: child, reservation } = await withFreshPort('nginx', async (port) => {
      writeFileSync(conf, nginxConf(dir, port, upstreamFile, upstream));
      const proc = spawn(bin, ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const deadline = Date.now() + 15_000;
      for (;;) {
        if (proc.exitCode !== null) {
          throw isAddressInUse(log)
            ? new PortInUseError(log.trim())
            : new Error(`nginx exited: ${log.trim()}`);
        }
        try {
          await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
          return proc;
        } catch {
          /* not listening yet */
        }
        if (Date.now() > deadline) {
          proc.kill('SIGKILL');
          throw new Error(`nginx did not listen on ${port} within 15 s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    cleanup.add('the nginx port', () => reservation.release());
    cleanup.add('nginx', () => stopChild(child, 'SIGQUIT'));
    return {
      port: reservation.port,
      url: `http://127.0.0.1:${reservation.port}`,
      conf,
      upstreamFile,
      upstream,
      command,
      log: () => log,
      stop: () => cleanup.run(),
    };
  } catch (err) {
    return cleanup.abandon(err);
  }
}
