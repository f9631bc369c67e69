import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, defaultDeps } from './activities';
import { AttemptTaggingInterceptor } from './activities/interceptors';
import { connectionSettings, type ConnectionFlags } from './client';
import { resolveTaskQueue } from './temporal/connection';
import { dataConverterFromEnv } from './temporal/codec';
import { DEFAULT_TASK_QUEUE, HOST_WORKER_ACTIVITIES, hostQueue } from './model';
import { channelName, type NotifyChannel } from './notifications/channels';

export { DEFAULT_TASK_QUEUE } from './model';

export interface WorkerSettings extends ConnectionFlags {
  taskQueue?: string;
  /**
   * A host's own worker (`rollback worker --host NAME`): polls `rollback-host-NAME` and runs only
   * the steps that act on this host (no workflows, no notices, no reports).
   */
  host?: string;
  /**
   * A prebuilt workflow bundle (tests build it once); default: $ROLLBACK_WORKFLOW_BUNDLE, else the
   * one `npm run build` writes beside the compiled worker (builtBundle), else bundled at start.
   */
  workflowBundlePath?: string;
  /** The activities to register; default: every activity, with the worker's own dependencies. */
  activities?: object;
  /** On SIGTERM/SIGINT, how long running activities may finish before they are cancelled (default 30). */
  shutdownGraceSeconds?: number;
}

/** The activities a host's own worker runs: the host steps, and the MCP check over stdio. */
export function hostActivities(all: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(all).filter(([name]) => HOST_WORKER_ACTIVITIES.has(name)));
}

export function taskQueueFor(explicit?: string): string {
  return resolveTaskQueue(explicit, DEFAULT_TASK_QUEUE);
}

/**
 * dist/workflow-bundle.js when this is the compiled worker and the bundle is at least as new as the
 * compiled workflows (a `tsc` alone after `npm run build` would leave it stale); else undefined (the
 * sources, run through tsx, have none).
 */
export function builtBundle(dir = __dirname): string | undefined {
  const bundle = join(dir, 'workflow-bundle.js');
  const workflows = join(dir, 'workflows', 'index.js');
  if (!existsSync(bundle) || !existsSync(workflows)) return undefined;
  return statSync(bundle).mtimeMs >= statSync(workflows).mtimeMs ? bundle : undefined;
}

export async function createWorker(settings: WorkerSettings = {}): Promise<{
  worker: Worker;
  close: () => Promise<void>;
  /** Where its workflow code comes from, for its start-up line. */
  workflows: string;
}> {
  // The CLI's settings: --address/--namespace, then the Temporal CLI's variables and profile (TLS, API key).
  const { address, namespace, tls, apiKey, metadata } = connectionSettings(settings);
  const connection = await NativeConnection.connect({ address, tls, apiKey, metadata });
  // Encrypted payloads: the workflows are bundled here, with the failure converter that encrypts
  // failures' messages too (a bundle built elsewhere has the default one).
  const dataConverter = dataConverterFromEnv();
  const bundlePath = dataConverter
    ? undefined
    : settings.workflowBundlePath || process.env.ROLLBACK_WORKFLOW_BUNDLE || builtBundle();
  const all = settings.activities ?? createActivities(defaultDeps());
  const options: WorkerOptions = {
    connection,
    namespace,
    ...(dataConverter ? { dataConverter } : {}),
    taskQueue: settings.host ? hostQueue(settings.host) : taskQueueFor(settings.taskQueue),
    activities: settings.host ? hostActivities(all) : all,
    interceptors: { activity: [() => ({ inbound: new AttemptTaggingInterceptor() })] },
    // Heartbeats reach the server within a second, so the steps' short heartbeat timeouts find a
    // dead worker in seconds; a workflow task stranded on a dead worker's sticky queue moves on fast.
    maxHeartbeatThrottleInterval: '1s',
    // SIGTERM (a redeploy, compose down): stop polling, let running steps finish, then cancel them
    // (a cancelled step is retried by another worker; every step checks the world before acting).
    shutdownGraceTime: `${settings.shutdownGraceSeconds ?? 30}s`,
    stickyQueueScheduleToStartTimeout: '3s',
    // A host's worker runs activities only: the workflows stay with the orchestrator's workers.
    ...(settings.host
      ? {}
      : bundlePath
        ? { workflowBundle: { codePath: bundlePath } }
        : { workflowsPath: require.resolve('./workflows') }),
  };
  const worker = await Worker.create(options);
  const workflows = settings.host
    ? 'none (a host worker runs steps only)'
    : bundlePath
      ? `prebuilt bundle ${bundlePath}`
      : dataConverter
        ? 'bundled at start (encrypted payloads)'
        : 'bundled at start';
  return { worker, close: () => connection.close(), workflows };
}

if (require.main === module) {
  createWorker()
    .then(async ({ worker, close }) => {
      await worker.run();
      await close();
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}

/**
 * Notification channels of a config whose `urlEnv` this worker's environment lacks: the worker says
 * so when it starts, rather than only when a notice cannot be delivered in the middle of a rollback.
 */
export function missingNotifyEnv(
  config: {
    notify?: { channels: NotifyChannel[] };
    targets: Record<string, { notify?: { channels: NotifyChannel[] } }>;
  },
  env: Readonly<Record<string, string | undefined>> = process.env,
): string[] {
  const where: [string, NotifyChannel[]][] = [
    ['notify', config.notify?.channels ?? []],
    ...Object.entries(config.targets).map(([name, t]): [string, NotifyChannel[]] => [
      `targets.${name}.notify`,
      t.notify?.channels ?? [],
    ]),
  ];
  return where.flatMap(([path, channels]) =>
    channels
      .filter((c) => c.urlEnv && !env[c.urlEnv])
      .map(
        (c) =>
          `${path}: channel ${channelName(c)} will not be delivered: ${c.urlEnv} is unset in this worker's environment`,
      ),
  );
}
