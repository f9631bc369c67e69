import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAddressInUse, PortInUseError } from '../../src/temporal/dev-server';
import { Cleanup } from './cleanup';
import { withFreshPort } from './ports';
import { installedTool, stopChild } from './tools';

/**
 * A real Prometheus (Debian's, unpacked by scripts/install-prometheus.sh when the machine has none)
 * scraping the given targets every second, with its own config and data folder, on a reserved port.
 */
export interface TestPrometheus {
  url: string;
  /** The value of an instant query (first series), or undefined while it has no data. */
  query(q: string): Promise<number | undefined>;
  log(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(targets: string[]): Promise<TestPrometheus> {
  const cleanup = new Cleanup();
  try {
    const bin = installedTool('install-prometheus.sh')('PROMETHEUS');
    const dir = mkdtempSync(join(tmpdir(), 'rollback-prometheus-'));
    cleanup.add('the prometheus folder', () => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'data'));
    const conf = join(dir, 'prometheus.yml');
    writeFileSync(
      conf,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: svc',
        `    static_configs: [{ targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}] }]`,
        '',
      ].join('\n'),
    );
    let log = '';
    const { value: child, reservation } = await withFreshPort('prometheus', async (port) => {
      const proc = spawn(
        bin,
        [
          `--config.file=${conf}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--log.level=warn',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (proc.exitCode !== null) {
          throw isAddressInUse(log)
            ? new PortInUseError(log.trim())
            : new Error(`prometheus exited: ${log.trim()}`);
        }
        try {
          const res = await fetch(`http://127.0.0.1:${port}/-/ready`, { signal: AbortSignal.timeout(1000) });
          if (res.ok) return proc;
        } catch {
          /* not listening yet */
        }
        if (Date.now() > deadline) {
          proc.kill('SIGKILL');
          throw new Error(`prometheus was not ready on ${port} within 30 s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    cleanup.add('the prometheus port', () => reservation.release());
    cleanup.add('prometheus', () => stopChild(child, 'SIGTERM'));
    const url = `http://127.0.0.1:${reservation.port}`;
    return {
      url,
      async query(q) {
        const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
        const raw = body.data?.result?.[0]?.value?.[1];
        return raw === undefined ? undefined : Number(raw);
      },
      log: () => log,
      stop: () => cleanup.run(),
    };
  } catch (err) {
    return cleanup.abandon(err);
  }
}

/**
 * A real Alertmanager (Debian's prometheus-alertmanager) whose one receiver is a webhook with a
 * bearer token, sending each new alert group at once (group_wait 0s).
 */
export interface TestAlertmanager {
  url: string;
  /** Posts alerts to its API (as Prometheus would). */
  fire(alerts: { labels: Record<string, string>; annotations?: Record<string, string> }[]): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

export async function startAlertmanager(webhookUrl: string, token: string): Promise<TestAlertmanager> {
  const cleanup = new Cleanup();
  try {
    const tool = installedTool('install-prometheus.sh');
    const bin = tool('ALERTMANAGER');
    // Debian's build reads /usr/share/prometheus/alertmanager/default.tmpl; when that is only in
    // .tools, the process gets its own mount namespace with .tools' share laid over /usr/share.
    const share = tool('ALERTMANAGER_SHARE');
    const overlay = share
      ? [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          `mount -t overlay overlay -o lowerdir=${share}:/usr/share /usr/share && exec "$0" "$@"`,
        ]
      : [];
    const dir = mkdtempSync(join(tmpdir(), 'rollback-alertmanager-'));
    cleanup.add('the alertmanager folder', () => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'data'));
    const conf = join(dir, 'alertmanager.yml');
    writeFileSync(
      conf,
      [
        'route: { receiver: rollback, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h }',
        'receivers:',
        '  - name: rollback',
        '    webhook_configs:',
        `      - url: ${JSON.stringify(webhookUrl)}`,
        '        send_resolved: false',
        `        http_config: { authorization: { type: Bearer, credentials: ${JSON.stringify(token)} } }`,
        '',
      ].join('\n'),
    );
    let log = '';
    const { value: child, reservation } = await withFreshPort('alertmanager', async (port) => {
      const argv = [
        ...overlay,
        bin,
        `--config.file=${conf}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
        '--log.level=warn',
      ];
      const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (proc.exitCode !== null) {
          throw isAddressInUse(log)
            ? new PortInUseError(log.trim())
            : new Error(`alertmanager exited: ${log.trim()}`);
        }
        try {
          const res = await fetch(`http://127.0.0.1:${port}/-/ready`, { signal: AbortSignal.timeout(1000) });
          if (res.ok) return proc;
        } catch {
          /* not listening yet */
        }
        if (Date.now() > deadline) {
          proc.kill('SIGKILL');
          throw new Error(`alertmanager was not ready on ${port} within 30 s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    cleanup.add('the alertmanager port', () => reservation.release());
    cleanup.add('alertmanager', () => stopChild(child, 'SIGTERM'));
    const url = `http://127.0.0.1:${reservation.port}`;
    return {
      url,
      async fire(alerts) {
        const res = await fetch(`${url}/api/v2/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(alerts.map((a) => ({ ...a, startsAt: new Date().toISOString() }))),
        });
        if (!res.ok) throw new Error(`alertmanager refused the alerts: ${res.status} ${await res.text()}`);
      },
      log: () => log,
      stop: () => cleanup.run(),
    };
  } catch (err) {
    return cleanup.abandon(err);
  }
}
