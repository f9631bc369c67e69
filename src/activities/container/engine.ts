import type Docker from 'dockerode';
import type { Host } from '../../runner/types';
import { permanent, retryable } from '../common';

/**
 * The container engine through its Docker Engine API (dockerode): the one on the step's host, its
 * errors as typed failures (unreachable, missing, failed), and what podman answers differently.
 */

export interface EngineInput {
  /** The engine's API socket; absent: DOCKER_HOST, or /var/run/docker.sock. */
  socket?: string;
}

/** Labels the rollback puts on a container it creates: how a retry or an undo knows its own. */
export const ROLLBACK_LABEL = 'rollback-orchestrator.rollback';
export const REPLACES_LABEL = 'rollback-orchestrator.replaces';

/** The engine on the step's host: a worker there (or this machine) talks to its socket. */
export function engineOf(input: EngineInput, host: Host): Docker {
  if (!host.local) {
    throw permanent(
      `the container engine is reached by a worker on its host, not over SSH (${host.label}): use host: { worker: NAME }`,
      'BadInput',
    );
  }
  // Loaded on first use: a worker with no container targets does not carry dockerode.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Dockerode = require('dockerode') as typeof Docker;
  return new Dockerode(input.socket ? { socketPath: input.socket } : undefined);
}

export function where(input: EngineInput): string {
  return input.socket ?? process.env.DOCKER_HOST ?? '/var/run/docker.sock';
}

export interface EngineError extends Error {
  statusCode?: number;
  code?: string;
  json?: { message?: string };
}

export const isMissing = (err: unknown) => (err as EngineError).statusCode === 404;

/** An engine that does not answer: a missing socket is for good, a refused one may come back. */
export function unreachable(err: unknown, input: EngineInput): Error | undefined {
  const code = (err as EngineError).code;
  if (code === 'ENOENT' || code === 'EACCES') {
    return permanent(
      `the container engine's socket ${where(input)} ${code === 'ENOENT' ? 'does not exist' : 'is not open to the worker'}: ` +
        'start Docker or `podman system service`, or set deploy.engine.socket (nothing was changed)',
      'EngineUnreachable',
    );
  }
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE') {
    return retryable(
      `the container engine at ${where(input)} refused the connection (${code})`,
      'EngineUnreachable',
    );
  }
  return undefined;
}

export function engineMessage(err: unknown): string {
  const e = err as EngineError;
  return (e.json?.message ?? e.message ?? String(err)).trim();
}

/** Runs one engine call; what the engine cannot be reached for becomes a typed failure. */
export async function call<T>(input: EngineInput, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const u = unreachable(err, input);
    if (u) throw u;
    if (isMissing(err)) throw err;
    throw retryable(`${what} failed on ${where(input)}: ${engineMessage(err)}`, 'EngineFailed');
  }
}

/** An engine lookup, or null when the engine has no such thing (404). */
async function orNull<T>(input: EngineInput, what: string, fn: () => Promise<T>): Promise<T | null> {
  try {
    return await call(input, what, fn);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

export const inspectOrNull = (docker: Docker, input: EngineInput, name: string) =>
  orNull(input, `inspecting container ${name}`, () => docker.getContainer(name).inspect());

export const imageOrNull = (docker: Docker, input: EngineInput, ref: string) =>
  orNull(input, `inspecting image ${ref}`, async () => {
    const image = await docker.getImage(ref).inspect();
    if (image.Config && !image.Config.Healthcheck) {
      const healthcheck = await podmanImageHealthcheck(docker, image.Id);
      if (healthcheck) image.Config.Healthcheck = healthcheck;
    }
    return image;
  });

/**
 * An image's HEALTHCHECK as podman's own API reports it: its Docker-compatible image inspect
 * (podman 4.x) leaves `Config.Healthcheck` out even when the image has one. Docker answers 404
 * here, which means "nothing more to know".
 */
async function podmanImageHealthcheck(docker: Docker, id: string): Promise<Docker.HealthConfig | undefined> {
  return new Promise((resolve) =>
    docker.modem.dial(
      {
        path: `/v4.0.0/libpod/images/${encodeURIComponent(id)}/json`,
        method: 'GET',
        statusCodes: { 200: true },
      },
      (err, data) => {
        const hc = err ? undefined : (data as { Healthcheck?: Docker.HealthConfig } | undefined)?.Healthcheck;
        resolve(hc?.Test?.length ? hc : undefined);
      },
    ),
  );
}

/** Whether the container's image (or its own settings) define a healthcheck. */
export const hasHealthcheck = (c: Docker.ContainerInspectInfo) =>
  !!c.Config.Healthcheck?.Test?.length && c.Config.Healthcheck.Test[0] !== 'NONE';

/**
 * Reads an engine's progress stream (a pull, a build) to its end. The engines report a failure as
 * an event in the stream, not as an HTTP error: such an event fails the call.
 */
export function follow(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onEvent: (event: { stream?: string }) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err, events) => {
        const failed = (events as { error?: string }[] | undefined)?.find((e) => e.error)?.error;
        if (err || failed) reject(err ?? new Error(failed));
        else resolve();
      },
      onEvent,
    ),
  );
}

/**
 * podman's engine runs healthchecks only from systemd timers; its own API (libpod, which needs a
 * version in the path) runs one on demand.
 */
export async function runPodmanHealthcheck(docker: Docker, id: string): Promise<void> {
  await new Promise<void>((resolve) =>
    docker.modem.dial(
      {
        path: `/v4.0.0/libpod/containers/${id}/healthcheck`,
        method: 'GET',
        statusCodes: { 200: true, 409: true, 500: true },
      },
      () => resolve(),
    ),
  );
}

export async function isPodman(docker: Docker): Promise<boolean> {
  const v = (await docker.version()) as { Components?: { Name?: string }[] };
  return (v.Components ?? []).some((c) => /podman/i.test(c.Name ?? ''));
}
