import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { eventually, GiveUp } from './eventually';

/**
 * moto's server: a real AWS API emulator (ECS, CloudWatch, ELBv2) for the ECS tests. Installed by
 * scripts/install-python-tool.sh moto (pinned, into .tools/moto-venv) if missing, started on a port it
 * binds itself (-p 0) and reports, and stopped after. Nothing is running when CI starts, so the tests start it themselves.
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

export async function startMoto(): Promise<Moto> {
  const bin = installMoto();
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', '0'], {
    env: { ...process.env, MOTO_ECS_SERVICE_RUNNING: String(MOTO_RUNNING_TASKS) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const stillRunning = () => {
    if (child.exitCode !== null) {
      throw new GiveUp(
        `moto_server exited with code ${child.exitCode}: ${stderr.trim().split('\n').slice(-5).join('\n')}`,
      );
    }
  };
  try {
    // werkzeug reports the port it bound: " * Running on http://127.0.0.1:PORT".
    const endpoint = await eventually(
      'moto_server to report its port',
      () => {
        stillRunning();
        return /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
      },
      30_000,
    );
    await eventually(
      `moto_server to answer at ${endpoint}`,
      async () => {
        stillRunning();
        return (await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) })).ok;
      },
      30_000,
    );
    return { endpoint, region: 'eu-west-1', stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
