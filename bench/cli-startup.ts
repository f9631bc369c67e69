/**
 * `npm run bench` (second part): how long the `rollback` command takes, start to exit, as a user
 * runs it: `rollback --help`, and `rollback status` of a git target's finished rollback with a
 * worker running; also `status` of one no worker polls for (answered from the workflow history).
 * CLI_BENCH_RUNS sets the runs of each (default 10), after one warm-up run. Goals on a quiet
 * machine: --help under 300 ms, status under 600 ms (medians).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { entryPoint } from '../bin/entry-point';
import { stringify } from 'yaml';
import { RollbackClient } from '../src/client';
import type { RollbackRequest } from '../src/model';
import { startDevServer } from '../src/temporal/dev-server';
import { getTarget, parseConfig } from '../src/targets/load';
import { planRollback } from '../src/targets/plan';
import { createWorker } from '../src/worker';
import { createFakeActivities } from '../test/rig/fake-activities';
import { median } from './stats';

const RUNS = Number(process.env.CLI_BENCH_RUNS ?? 10);
const ROOT = join(__dirname, '..');
const BIN = join(ROOT, 'bin', 'rollback.js');

/** Wall time of whole runs of the command, in ms (after one warm-up run that is not counted). */
function time(args: string[], env: NodeJS.ProcessEnv): number[] {
  const once = () => {
    const started = performance.now();
    const r = spawnSync(process.execPath, [BIN, ...args], { env, stdio: 'ignore' });
    if (r.status !== 0 && r.status !== 1) throw new Error(`rollback ${args.join(' ')} exited ${r.status}`);
    return performance.now() - started;
  };
  once();
  return Array.from({ length: RUNS }, once);
}

/** A git target's emergency rollback, started on `taskQueue`. */
async function startGitRollback(client: RollbackClient, target: string) {
  const config = parseConfig(
    stringify({
      version: 1,
      targets: {
        [target]: {
          deploy: { type: 'git', path: ROOT, stableVersion: 'v1.11.4' },
          service: { manager: 'command', start: ['true'], stop: ['true'], status: ['true'] },
          backupDir: join(tmpdir(), 'bench-backups'),
          reportsDir: join(tmpdir(), 'bench-reports'),
          validate: { health: { url: 'http://127.0.0.1:9/health' } },
        },
      },
    }),
    'bench.yaml',
  );
  const request: RollbackRequest = {
    rollbackId: `${target}-bench`,
    target,
    kind: 'emergency',
    reason: 'cli start-up bench',
    requestedBy: 'bench',
    requestedAt: new Date().toISOString(),
  };
  return client.start(
    request,
    planRollback(getTarget({ file: 'bench.yaml', config }, target), request, config),
  );
}

async function main() {
  const fresh = entryPoint().path !== null;
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const root = mkdtempSync(join(tmpdir(), 'bench-cli-'));
  const server = await startDevServer({ dbFile: join(root, 'temporal.sqlite'), headless: true });
  const env = { ...process.env, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace };
  const { worker, close } = await createWorker({
    address: server.address,
    taskQueue: 'bench-cli',
    activities: createFakeActivities(),
  });
  const running = worker.run();
  const rows: [string, number[]][] = [];
  try {
    const client = await RollbackClient.connect({ address: server.address, taskQueue: 'bench-cli' });
    const done = await startGitRollback(client, 'bench-git');
    await client.result(done.workflowId, done.runId);
    const idle = await RollbackClient.connect({ address: server.address, taskQueue: 'bench-nobody' });
    const waiting = await startGitRollback(idle, 'bench-waiting');
    rows.push(['rollback --help', time(['--help'], env)]);
    rows.push([`rollback status ${done.workflowId}`, time(['status', done.workflowId], env)]);
    rows.push([
      `rollback status ${waiting.workflowId} (no worker)`,
      time(['status', waiting.workflowId], env),
    ]);
    await idle.client.workflow.getHandle(waiting.workflowId).terminate('bench over');
    await idle.close();
    await client.close();
  } finally {
    worker.shutdown();
    await running;
    await close();
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }

  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  console.log(
    `\nCLI start-up, whole process, ${RUNS} runs each (${fresh ? 'compiled, from dist/' : 'from the sources through tsx: dist/ is missing or stale, run npm run build'})\n`,
  );
  console.log(row(['command', 'median ms', 'min ms', 'max ms']));
  console.log(row(['---', '---:', '---:', '---:']));
  for (const [name, ms] of rows)
    console.log(row([name, median(ms).toFixed(0), Math.min(...ms).toFixed(0), Math.max(...ms).toFixed(0)]));
  console.log('\ngoals on a quiet machine: --help under 300 ms, status under 600 ms (medians)');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
