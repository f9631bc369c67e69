/**
 * `npm run bench` (last part): what a step pays for running on another host. Against a real
 * OpenSSH server on 127.0.0.1 (the test rig's, logging in as the user running the bench), the
 * same work done locally and over SSH, one connection per activity attempt as the worker does it:
 * a command, a 64 KiB file read (SFTP), a health check from the orchestrator and from the host
 * (HTTP through a direct-tcpip channel). SSH_BENCH_RUNS sets the runs (default 20) after one
 * warm-up. Loopback only: a real network adds its round trips to every SSH figure.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openHost } from '../src/activities/deps';
import { checkHealth } from '../src/activities/validate';
import { LOCAL_HOST } from '../src/runner/local-host';
import type { Host } from '../src/runner/types';
import { startSshd } from '../test/rig/sshd';
import { median } from './stats';

const RUNS = Number(process.env.SSH_BENCH_RUNS ?? 20);

async function timed(work: () => Promise<unknown>): Promise<number[]> {
  await work();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return times;
}

async function main() {
  const sshd = await startSshd();
  const dir = mkdtempSync(join(tmpdir(), 'rollback-bench-ssh-'));
  const service = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ status: 'healthy', version: '1.11.4' }));
  });
  await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/health`;
  const file = join(dir, 'config.bin');
  writeFileSync(file, Buffer.alloc(64 * 1024, 7));
  const on = { ssh: { ...sshd.host, hostKeySha256: sshd.fingerprint } };
  const open = openHost(process.env);
  // As an activity attempt: open the host (locally nothing, over SSH one connection), work, close.
  const attempt = (remote: boolean, work: (host: Host) => Promise<unknown>) =>
    remote ? open(on, work) : work(LOCAL_HOST);
  const rows: [string, number[], number[]][] = [];
  try {
    for (const [name, work] of [
      ['a command (true)', (h: Host) => h.runner.run(['true'])],
      ['read a 64 KiB file', (h: Host) => h.files.read(file)],
      ['a health check', (h: Host) => checkHealth({ url, timeoutSeconds: 5 }, h)],
      [
        'an attempt of 5 commands',
        async (h: Host) => {
          for (let i = 0; i < 5; i++) await h.runner.run(['true']);
        },
      ],
    ] as const) {
      rows.push([name, await timed(() => attempt(false, work)), await timed(() => attempt(true, work))]);
    }
  } finally {
    service.close();
    rmSync(dir, { recursive: true, force: true });
    await sshd.stop();
  }
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  console.log(`\nOne activity attempt, on this machine and over SSH to 127.0.0.1 (${RUNS} runs, medians)\n`);
  console.log(row(['work', 'local ms', 'over SSH ms', 'SSH min–max ms']));
  console.log(row(['---', '---:', '---:', '---:']));
  for (const [name, local, ssh] of rows) {
    console.log(
      row([
        name,
        median(local).toFixed(1),
        median(ssh).toFixed(1),
        `${Math.min(...ssh).toFixed(0)}–${Math.max(...ssh).toFixed(0)}`,
      ]),
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
