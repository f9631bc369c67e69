import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../../src/temporal/dev-server';

/**
 * moto's server: a real AWS API emulator (ECS, CloudWatch, ELBv2) for the ECS tests. Installed by
 * scripts/install-python-tool.sh moto (pinned, into .tools/moto-venv) if missing, started on a free port, and
 * stopped after. Nothing is running when CI starts, so the tests start it themselves.
 */

const ROOT = join(__dirname, '..', '..');

export interface Moto {
  endpoint: string;
  region: string;
  stop(): Promise<void>;
}

/** Tasks every service reports running at creation: tests create services with this desiredCount. */
export const MOTO_RUNNING_TASKS = 2;

function installMoto(): string {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'install-python-tool.sh'), 'moto'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 600_000,
  });
  if (r.status !== 0) {
    throw new Error(
      `scripts/install-python-tool.sh moto failed (exit ${r.status}): ${(r.stderr || String(r.error)).trim()}`,
    );
  }
  return r.stdout.trim().split('\n').pop()!;
}

async function waitUntilAnswering(endpoint: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode}: ${log()}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`moto_server did not answer at ${endpoint} within 30 s: ${log()}`);
}

export async function startMoto(): Promise<Moto> {
  const bin = installMoto();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, MOTO_ECS_SERVICE_RUNNING: String(MOTO_RUNNING_TASKS) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  try {
    await waitUntilAnswering(endpoint, child, () => stderr.trim().split('\n').slice(-5).join('\n'));
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    endpoint,
    region: 'eu-west-1',
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}
