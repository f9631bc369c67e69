import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DefaultLogger, Runtime, type LogEntry, type LogLevel, type Worker } from '@temporalio/worker';

/**
 * What an operator runs a worker with: Prometheus metrics (the SDK's own telemetry: task slots,
 * poll and schedule latencies, activity and workflow outcomes), a health endpoint for the
 * orchestrator (compose, Kubernetes), and logs as one JSON object per line, each line of a
 * workflow's or an activity's work carrying its workflowId. Installed once, before any connection.
 */
export interface WorkerRuntimeOptions {
  /** host:port where GET /metrics answers (Prometheus text format). */
  metrics?: string;
  logFormat?: 'text' | 'json';
  logLevel?: LogLevel;
  /** Where JSON lines go (default: stderr). */
  write?: (line: string) => void;
}

/** One log entry as one JSON line: time, level, message, then the SDK's metadata (workflowId, ...). */
export function jsonLogLine(entry: LogEntry): string {
  // A task token lets whoever holds it complete the activity: not for logs.
  const meta: Record<string, unknown> = { ...entry.meta };
  delete meta.taskToken;
  return JSON.stringify(
    {
      time: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
      level: entry.level.toLowerCase(),
      message: entry.message,
      ...meta,
    },
    (_key, value: unknown) =>
      typeof value === 'bigint'
        ? value.toString()
        : value instanceof Error
          ? { name: value.name, message: value.message }
          : value,
  );
}

export function installWorkerRuntime(opts: WorkerRuntimeOptions): void {
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const logger =
    opts.logFormat === 'json'
      ? new DefaultLogger(opts.logLevel ?? 'INFO', (entry) => write(jsonLogLine(entry)))
      : new DefaultLogger(opts.logLevel ?? 'INFO');
  Runtime.install({
    logger,
    ...(opts.metrics ? { telemetryOptions: { metrics: { prometheus: { bindAddress: opts.metrics } } } } : {}),
  });
}

/**
 * GET /healthz: 200 while the worker runs (polls its queue), 503 once it is stopping or stopped, so
 * a supervisor stops sending it work and restarts it. The body says its state and queue.
 */
export async function startHealthServer(
  bind: string,
  worker: Pick<Worker, 'getState'>,
  taskQueue: string,
): Promise<{ port: number; close: () => Promise<void> }> {
  const { host, port } = splitHostPort(bind);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/healthz') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"GET /healthz"}');
      return;
    }
    const state = worker.getState();
    res
      .writeHead(state === 'RUNNING' ? 200 : 503, { 'content-type': 'application/json' })
      .end(JSON.stringify({ state, taskQueue }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** `127.0.0.1:9464` → host and port; throws a message naming the flag's form. */
export function splitHostPort(value: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`"${value}" is not HOST:PORT, e.g. 127.0.0.1:9464`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}
