import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startDevServer } from '../temporal/dev-server';
import { createWorker } from '../worker';

/** `rollback dev`: a local Temporal server on a SQLite file plus a worker, until Ctrl-C. */
export async function runDev(opts: {
  stateDir: string;
  port: number;
  worker: boolean;
  sqliteSync?: 'normal' | 'full';
  json: boolean;
  namespace?: string;
}): Promise<void> {
  const log = (line: string) => process.stderr.write(line + '\n');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = await startDevServer({
    dbFile: join(opts.stateDir, 'temporal.sqlite'),
    sqliteSync: opts.sqliteSync,
    port: opts.port,
    uiPort: opts.port + 1000,
    namespace: opts.namespace,
    log,
  });
  let worker: Awaited<ReturnType<typeof createWorker>> | undefined;
  let running: Promise<void> | undefined;
  if (opts.worker) {
    log('bundling workflows and starting a worker...');
    worker = await createWorker({ address: server.address, namespace: server.namespace });
    running = worker.worker.run();
  }
  const info = {
    address: server.address,
    namespace: server.namespace,
    webUi: server.uiUrl,
    worker: !!worker,
  };
  if (opts.json) process.stdout.write(JSON.stringify(info) + '\n');
  else {
    log(
      `Temporal server: ${server.address} (namespace ${server.namespace}, SQLite ${join(opts.stateDir, 'temporal.sqlite')})`,
    );
    log(`Web UI:          ${server.uiUrl}`);
    log(
      worker
        ? 'Worker:          running on task queue rollback-orchestrator'
        : 'Worker:          not started (--no-worker)',
    );
    log('Press Ctrl-C to stop both.');
  }
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', () => resolveStop());
    process.once('SIGTERM', () => resolveStop());
  });
  log('stopping...');
  if (worker) {
    // The SDK's own SIGINT handler may have begun the shutdown already.
    if (worker.worker.getState() === 'RUNNING') worker.worker.shutdown();
    await running;
    await worker.close();
  }
  await server.stop();
}
