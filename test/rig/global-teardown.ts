import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pm2 } from './sandbox';

/**
 * Stops the run's Temporal server and removes the run's folder. Tests clean up after themselves;
 * what a test process that died before its afterAll left running (a pm2 daemon restarting a
 * crashed app, a command-managed service) is stopped here, and named.
 */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__ROLLBACK_TEST_SERVER__?.stop();
  const root = globalThis.__ROLLBACK_TEST_ROOT__;
  if (!root || !existsSync(root)) return;
  const swept: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(root, entry.name);
    const daemon = livePid(join(dir, 'pm2', 'pm2.pid'));
    if (daemon) {
      pm2(join(dir, 'pm2'), ['kill']);
      swept.push(`pm2 daemon ${daemon} of ${entry.name}`);
    }
    const service = livePid(join(dir, 'service.pid'));
    if (service) {
      process.kill(service, 'SIGKILL');
      swept.push(`service ${service} of ${entry.name}`);
    }
  }
  if (swept.length) process.stderr.write(`[rig] stopped what tests left running: ${swept.join(', ')}\n`);
  rmSync(root, { recursive: true, force: true });
}

function livePid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
