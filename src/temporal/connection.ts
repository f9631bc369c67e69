import { existsSync } from 'node:fs';
import { loadClientConfigProfile, toClientOptions } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/client';
import { textProblem } from '../model/text';
import { ConfigError } from '../targets/errors';

/** What the command line says about the server; everything else comes from the Temporal CLI's settings. */
export interface ConnectionFlags {
  address?: string;
  namespace?: string;
  /** A profile of the Temporal CLI's config file (default: $TEMPORAL_PROFILE, then "default"). */
  profile?: string;
}

/** Everything needed to reach the server: the CLI and the worker connect with the same settings. */
export interface ConnectionSettings {
  address: string;
  namespace: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
}

export const DEFAULT_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_NAMESPACE = 'default';

/**
 * `--address`/`--namespace`, then the Temporal CLI's environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS_*), then its config file's profile (TEMPORAL_CONFIG_FILE,
 * TEMPORAL_PROFILE), then the local dev server: the same settings, read by the same library, as the
 * `temporal` command, so TLS client certificates, a server CA, a server name and API keys work here too.
 */
export function connectionSettings(
  flags: ConnectionFlags = {},
  env: NodeJS.ProcessEnv = process.env,
): ConnectionSettings {
  const file = env.TEMPORAL_CONFIG_FILE;
  if (file && !existsSync(file)) {
    throw new ConfigError(
      `TEMPORAL_CONFIG_FILE names ${file}, which does not exist; point it at your temporal.toml or unset it`,
    );
  }
  const profileName = flags.profile ?? env.TEMPORAL_PROFILE;
  let options: ReturnType<typeof toClientOptions>;
  try {
    const profile = loadClientConfigProfile({
      profile: flags.profile,
      overrideEnvVars: env as Record<string, string>,
    });
    options = toClientOptions(profile); // reads the certificate and key files the profile names
  } catch (err) {
    const where = file ?? 'the Temporal CLI config file (~/.config/temporalio/temporal.toml)';
    throw new ConfigError(
      `cannot read the Temporal connection settings${profileName ? ` of profile "${profileName}"` : ''} from ${where}: ${(err as Error).message}; ` +
        'fix the file or the TEMPORAL_* variables, or choose another profile with --profile / TEMPORAL_PROFILE',
    );
  }
  const { connectionOptions } = options;
  const address = flags.address ?? (connectionOptions.address || DEFAULT_ADDRESS);
  const problem = addressProblem(address);
  if (problem) {
    const from =
      flags.address !== undefined ? '--address' : env.TEMPORAL_ADDRESS ? 'TEMPORAL_ADDRESS' : 'the profile';
    // A user:password@ part is not shown: it is the one secret an address can hold.
    const shown = JSON.stringify(address.replace(/^[^@]*@/, '(user:password hidden)@'));
    throw new ConfigError(
      `${from} ${shown} ${problem}; give the frontend as HOST:PORT, e.g. ${DEFAULT_ADDRESS}`,
    );
  }
  const namespace = flags.namespace ?? (options.namespace || DEFAULT_NAMESPACE);
  if (!namespace.trim()) throw new ConfigError('--namespace is empty; give a namespace, e.g. default');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(namespace)) {
    const from =
      flags.namespace !== undefined
        ? '--namespace'
        : env.TEMPORAL_NAMESPACE
          ? 'TEMPORAL_NAMESPACE'
          : 'the profile';
    throw new ConfigError(
      `${from} ${JSON.stringify(namespace.slice(0, 80))} is not a namespace name (letters, digits, . _ -, up to 255); give one like default`,
    );
  }
  return {
    address,
    namespace,
    tls: connectionOptions.tls ?? undefined,
    apiKey: connectionOptions.apiKey,
    metadata: connectionOptions.metadata as Record<string, string> | undefined,
  };
}

/** Why `address` is not HOST:PORT, or undefined. */
export function addressProblem(address: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(address);
  if (!m) return 'is not HOST:PORT';
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `has port ${port}, outside 1-65535`;
  return undefined;
}

/** The Web UI's address: TEMPORAL_UI_URL, else the dev server's convention (frontend port + 1000). */
export function webUiBase(address: string): string {
  if (process.env.TEMPORAL_UI_URL) return process.env.TEMPORAL_UI_URL.replace(/\/$/, '');
  const m = /^(.*):(\d+)$/.exec(address);
  return m ? `http://${m[1]}:${Number(m[2]) + 1000}` : `http://${address}`;
}

/**
 * Refuses (ConfigError, exit 2) a task queue name the server would refuse with a bare gRPC error:
 * empty, longer than its 1000-character limit, or holding a control character.
 */
function checkTaskQueue(name: string, from: string): string {
  const problem = !name.trim()
    ? `the task queue from ${from} is empty`
    : textProblem(`the task queue from ${from}`, name, 1000);
  if (problem) throw new ConfigError(`${problem}; give the worker's queue name, e.g. rollback-orchestrator`);
  return name;
}

/** The task queue: `--task-queue`, else ROLLBACK_TASK_QUEUE, else `fallback`; checked as above. */
export function resolveTaskQueue(
  explicit: string | undefined,
  fallback: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  if (explicit !== undefined) return checkTaskQueue(explicit, '--task-queue');
  const fromEnv = env.ROLLBACK_TASK_QUEUE;
  return fromEnv !== undefined ? checkTaskQueue(fromEnv, 'ROLLBACK_TASK_QUEUE') : fallback;
}
