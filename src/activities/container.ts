import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { HostSpec } from '../model';
import { tail, type Host } from '../runner/types';
import { cancellationSignal, done, heartbeat, permanent, retryable, type StepResult } from './common';
import type { ActivityDeps } from './deps';

/**
 * A service run as a container, through the Docker Engine API (dockerode): Docker's daemon, or
 * podman's `system service`, which answers the same API. The engine is the one on the step's host:
 * its socket (`engine.socket`), or DOCKER_HOST, or /var/run/docker.sock. A rollback keeps the
 * container it replaces, stopped and renamed, for investigation; the new one copies its settings.
 *
 * Env values (the env file's and the container's) are read and written here and never returned:
 * the workflow's history sees names and counts only.
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

function where(input: EngineInput): string {
  return input.socket ?? process.env.DOCKER_HOST ?? '/var/run/docker.sock';
}

interface EngineError extends Error {
  statusCode?: number;
  code?: string;
  json?: { message?: string };
}

const isMissing = (err: unknown) => (err as EngineError).statusCode === 404;

/** An engine that does not answer: a missing socket is for good, a refused one may come back. */
function unreachable(err: unknown, input: EngineInput): Error | undefined {
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

function engineMessage(err: unknown): string {
  const e = err as EngineError;
  return (e.json?.message ?? e.message ?? String(err)).trim();
}

/** Runs one engine call; what the engine cannot be reached for becomes a typed failure. */
async function call<T>(input: EngineInput, what: string, fn: () => Promise<T>): Promise<T> {
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
const hasHealthcheck = (c: Docker.ContainerInspectInfo) =>
  !!c.Config.Healthcheck?.Test?.length && c.Config.Healthcheck.Test[0] !== 'NONE';

/** The tag of an image reference (`registry:5000/app:1.2` → `1.2`), or the reference itself. */
export function tagOf(ref: string): string {
  const at = ref.indexOf('@');
  if (at >= 0) return ref.slice(at + 1);
  const m = /:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(ref);
  return m && !m[1]!.includes('/') ? m[1]! : 'latest';
}

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

/** What runs now: read-only. */
export async function inspectContainer(
  input: { engine: EngineInput; container: string },
  host: Host,
): Promise<
  StepResult<{
    id: string;
    image: string;
    imageId: string;
    version: string;
    running: boolean;
    healthcheck: boolean;
  }>
> {
  const docker = engineOf(input.engine, host);
  const c = await inspectOrNull(docker, input.engine, input.container);
  if (!c) {
    throw permanent(
      `there is no container named ${input.container} on ${where(input.engine)}; fix deploy.container (docker ps -a lists them)`,
      'ContainerNotFound',
    );
  }
  const image = c.Config.Image;
  const running = c.State.Running === true;
  const healthcheck = hasHealthcheck(c);
  return done(
    `${input.container} (${c.Id.slice(0, 12)}) runs ${image}; ${running ? 'running' : `not running (${c.State.Status})`}`,
    { id: c.Id, image, imageId: c.Image, version: tagOf(image), running, healthcheck },
  );
}

/**
 * Makes the stable image present: pulled from its registry (`pull: always`, or `missing` when the
 * engine lacks it), or found on the engine (`never`: images loaded or built on the host). Refuses
 * an image the service already runs (unless forced). Changes nothing the service sees.
 */
export async function prepareImage(
  input: {
    engine: EngineInput;
    image: string;
    pull: 'always' | 'missing' | 'never';
    currentImageId?: string;
    force?: boolean;
  },
  host: Host,
): Promise<StepResult<{ imageId: string; pulled: boolean }>> {
  const docker = engineOf(input.engine, host);
  let local = await imageOrNull(docker, input.engine, input.image);
  let pulled = false;
  if (input.pull === 'always' || (!local && input.pull === 'missing')) {
    try {
      await call(input.engine, `pulling ${input.image}`, async () =>
        follow(docker, await docker.pull(input.image), () => heartbeat({ pull: input.image })),
      );
      pulled = true;
    } catch (err) {
      if (!isMissing(err) && !/not found|manifest unknown|does not exist/i.test(engineMessage(err)))
        throw err;
      if (!local) {
        throw permanent(
          `the registry has no image ${input.image} (${engineMessage(err).slice(0, 200)}); give a tag it has (nothing was changed)`,
          'ImageNotFound',
        );
      }
    }
    local = await imageOrNull(docker, input.engine, input.image);
  }
  if (!local) {
    throw permanent(
      `the engine at ${where(input.engine)} has no image ${input.image}` +
        (input.pull === 'never'
          ? ' and deploy.pull is never; build or load it on the host first, or allow pulls (nothing was changed)'
          : '; give a tag it has (nothing was changed)'),
      'ImageNotFound',
    );
  }
  if (input.currentImageId && local.Id === input.currentImageId && !input.force) {
    throw permanent(
      `${input.image} is the image the container already runs (${local.Id.slice(7, 19)}); nothing to roll back to (--force to recreate it anyway)`,
      'AlreadyOnVersion',
    );
  }
  return done(`${input.image} (${local.Id.slice(7, 19)}) ${pulled ? 'pulled' : 'is on the engine'}`, {
    imageId: local.Id,
    pulled,
  });
}

/**
 * Stops the running container and renames it `keptName`, kept for investigation. Done again after a
 * crash it finds the rename made. Refuses a container other than the one inspected.
 */
export async function stopAndRenameContainer(
  input: { engine: EngineInput; container: string; id: string; keptName: string; stopTimeoutSeconds: number },
  host: Host,
): Promise<StepResult> {
  const docker = engineOf(input.engine, host);
  const current = await inspectOrNull(docker, input.engine, input.container);
  const kept = await inspectOrNull(docker, input.engine, input.keptName);
  if (current && current.Id !== input.id) {
    if (kept?.Id === input.id) return done(`${input.container} already kept as ${input.keptName}`);
    throw permanent(
      `${input.container} is now container ${current.Id.slice(0, 12)}, not the ${input.id.slice(0, 12)} the rollback inspected; someone replaced it: look before rolling back again`,
      'ContainerConflict',
    );
  }
  if (!current) {
    if (kept?.Id === input.id) {
      if (kept.State.Running)
        await call(input.engine, 'stopping', () =>
          docker.getContainer(kept.Id).stop({ t: input.stopTimeoutSeconds }),
        );
      return done(`${input.container} already stopped and kept as ${input.keptName}`);
    }
    throw permanent(
      `the container ${input.container} (${input.id.slice(0, 12)}) is gone; nothing to stop`,
      'ContainerNotFound',
    );
  }
  const c = docker.getContainer(current.Id);
  if (current.State.Running) {
    heartbeat({ stopping: input.container });
    await call(input.engine, `stopping ${input.container}`, () =>
      c.stop({ t: input.stopTimeoutSeconds }).catch((err: EngineError) => {
        if (err.statusCode !== 304) throw err; // 304: already stopped
      }),
    );
  }
  await call(input.engine, `renaming ${input.container}`, () => c.rename({ name: input.keptName }));
  return done(`stopped ${input.container} and kept it as ${input.keptName}`);
}

/** Undo of the stop: the kept container gets its name back and runs again. */
export async function restoreKeptContainer(
  input: { engine: EngineInput; container: string; id: string; keptName: string },
  host: Host,
): Promise<StepResult> {
  const docker = engineOf(input.engine, host);
  const current = await inspectOrNull(docker, input.engine, input.container);
  if (current && current.Id !== input.id) {
    throw permanent(
      `the name ${input.container} is taken by container ${current.Id.slice(0, 12)}; remove it, then rename ${input.keptName} back by hand`,
      'ContainerConflict',
    );
  }
  if (!current) {
    const kept = await inspectOrNull(docker, input.engine, input.keptName);
    if (!kept)
      throw permanent(
        `neither ${input.container} nor ${input.keptName} exists: nothing to restore`,
        'ContainerNotFound',
      );
    await call(input.engine, `renaming ${input.keptName}`, () =>
      docker.getContainer(kept.Id).rename({ name: input.container }),
    );
  }
  await call(input.engine, `starting ${input.container}`, () =>
    docker
      .getContainer(input.id)
      .start()
      .catch((err: EngineError) => {
        if (err.statusCode !== 304) throw err; // 304: already running
      }),
  );
  return done(`${input.container} (${input.id.slice(0, 12)}) restored and started`);
}

/**
 * `KEY=VALUE` lines of an env file, as `docker run --env-file` reads them: no quotes, no expansion,
 * a name with blanks in it refused (docker refuses it too).
 */
export function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq === 0) throw new Error(`line ${i + 1} has no variable name before "="`);
    const name = eq < 0 ? line : line.slice(0, eq);
    if (/\s/.test(name))
      throw new Error(
        `line ${i + 1}: the variable name ${JSON.stringify(name.slice(0, 40))} has blanks in it`,
      );
    if (eq < 0) return; // `KEY` alone takes the engine's environment: not ours to copy
    env.set(name, line.slice(eq + 1));
  });
  return env;
}

export const toMap = (env: string[] | undefined) =>
  new Map(
    (env ?? []).map((e) => [e.slice(0, Math.max(e.indexOf('='), 0)) || e, e.slice(e.indexOf('=') + 1)]),
  );

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Set by the engine, not by whoever ran the container. */
export const ENGINE_ENV = new Set(['HOSTNAME', 'container']);

/**
 * Creates and starts the stable container under the service's name with the kept container's
 * settings (ports, mounts, restart policy, labels, network, its own env and command) and the
 * backed-up env file over its env. Done again after a crash it finds its own container (by label)
 * and starts it; a container of that name that is not its own is refused.
 */
export async function createStableContainer(
  input: {
    engine: EngineInput;
    container: string;
    keptName: string;
    image: string;
    rollbackId: string;
    /** The backed-up env file on the host, applied over the kept container's env. */
    envFile?: string;
  },
  host: Host,
): Promise<StepResult<{ id: string }>> {
  const docker = engineOf(input.engine, host);
  const existing = await inspectOrNull(docker, input.engine, input.container);
  if (existing && existing.Config.Labels?.[ROLLBACK_LABEL] !== input.rollbackId) {
    throw permanent(
      `a container named ${input.container} (${existing.Id.slice(0, 12)}) exists and is not this rollback's; remove or rename it (the old one is kept as ${input.keptName})`,
      'ContainerConflict',
    );
  }
  let id = existing?.Id;
  let envCount = 0;
  if (!id) {
    const old = await inspectOrNull(docker, input.engine, input.keptName);
    if (!old)
      throw permanent(
        `the kept container ${input.keptName} is gone: nothing to copy settings from`,
        'ContainerNotFound',
      );
    const oldImage = await imageOrNull(docker, input.engine, old.Image);
    const imageEnv = toMap(oldImage?.Config?.Env);
    const env = new Map<string, string>();
    for (const [k, v] of toMap(old.Config.Env))
      if (!ENGINE_ENV.has(k) && imageEnv.get(k) !== v) env.set(k, v);
    if (input.envFile) {
      let text: string;
      try {
        text = (await host.files.read(input.envFile)).toString('utf8');
      } catch (err) {
        throw permanent(
          `cannot read the backed-up env file ${input.envFile}: ${(err as Error).message}`,
          'BackupMissing',
        );
      }
      let fromFile: Map<string, string>;
      try {
        fromFile = parseEnvFile(text);
      } catch (err) {
        throw permanent(
          `the env file ${input.envFile} cannot be read as an env file: ${(err as Error).message}`,
          'BadInput',
        );
      }
      for (const [k, v] of fromFile) env.set(k, v);
    }
    envCount = env.size;
    const imageLabels = oldImage?.Config?.Labels ?? {};
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(old.Config.Labels ?? {}))
      if (imageLabels[k] !== v && k !== ROLLBACK_LABEL) labels[k] = v;
    labels[ROLLBACK_LABEL] = input.rollbackId;
    labels[REPLACES_LABEL] = old.Id;
    const own = <T>(value: T, imageValue: unknown): T | undefined =>
      same(value, imageValue) ? undefined : value;
    const hc = old.HostConfig;
    const network = hc.NetworkMode;
    const userNetworks = Object.entries(old.NetworkSettings?.Networks ?? {}).filter(
      ([name]) => !['host', 'bridge', 'none', 'default', 'podman'].includes(name),
    );
    const created = await call(input.engine, `creating ${input.container}`, () =>
      docker.createContainer({
        name: input.container,
        Image: input.image,
        Env: [...env].map(([k, v]) => `${k}=${v}`),
        Labels: labels,
        Cmd: own(old.Config.Cmd, oldImage?.Config?.Cmd),
        Entrypoint: own(old.Config.Entrypoint, oldImage?.Config?.Entrypoint),
        WorkingDir: own(old.Config.WorkingDir, oldImage?.Config?.WorkingDir) || undefined,
        User: own(old.Config.User, oldImage?.Config?.User) || undefined,
        ExposedPorts: old.Config.ExposedPorts,
        Healthcheck: own(old.Config.Healthcheck, oldImage?.Config?.Healthcheck),
        HostConfig: {
          Binds: hc.Binds ?? undefined,
          Mounts: hc.Mounts?.length ? hc.Mounts : undefined,
          PortBindings: hc.PortBindings,
          RestartPolicy: hc.RestartPolicy,
          NetworkMode: network,
          ExtraHosts: hc.ExtraHosts ?? undefined,
          CapAdd: hc.CapAdd ?? undefined,
          CapDrop: hc.CapDrop ?? undefined,
          Memory: hc.Memory || undefined,
          NanoCpus: hc.NanoCpus || undefined,
          LogConfig: hc.LogConfig?.Type ? hc.LogConfig : undefined,
        },
        NetworkingConfig: userNetworks.length
          ? {
              EndpointsConfig: Object.fromEntries(
                userNetworks.map(([name, n]) => [
                  name,
                  { Aliases: (n.Aliases ?? []).filter((a: string) => !old.Id.startsWith(a)) },
                ]),
              ),
            }
          : undefined,
      }),
    );
    id = created.id;
  }
  await call(input.engine, `starting ${input.container}`, () =>
    docker
      .getContainer(id!)
      .start()
      .catch((err: EngineError) => {
        if (err.statusCode !== 304) throw err;
      }),
  );
  return done(
    `created and started ${input.container} (${id.slice(0, 12)}) from ${input.image}` +
      (existing
        ? ' (found from an earlier attempt)'
        : ` with the kept container's settings${input.envFile ? ` and ${envCount} env vars (env file applied)` : ''}`),
    { id },
  );
}

/** Undo of the create: removes the container this rollback made (by label), and only that one. */
export async function removeRollbackContainer(
  input: { engine: EngineInput; container: string; rollbackId: string },
  host: Host,
): Promise<StepResult> {
  const docker = engineOf(input.engine, host);
  const c = await inspectOrNull(docker, input.engine, input.container);
  if (!c) return done(`no ${input.container} to remove`);
  if (c.Config.Labels?.[ROLLBACK_LABEL] !== input.rollbackId) {
    return done(`${input.container} (${c.Id.slice(0, 12)}) is not this rollback's container: left alone`);
  }
  await call(input.engine, `removing ${input.container}`, () =>
    docker.getContainer(c.Id).remove({ force: true }),
  );
  return done(`removed ${input.container} (${c.Id.slice(0, 12)}), the container this rollback created`);
}

/**
 * podman's engine runs healthchecks only from systemd timers; its own API (libpod, which needs a
 * version in the path) runs one on demand.
 */
async function runPodmanHealthcheck(docker: Docker, id: string): Promise<void> {
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

async function isPodman(docker: Docker): Promise<boolean> {
  const v = (await docker.version()) as { Components?: { Name?: string }[] };
  return (v.Components ?? []).some((c) => /podman/i.test(c.Name ?? ''));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the new container runs and stays up, and, when its image (or its settings) define a
 * healthcheck, until the engine calls it healthy. Exits, restarts and `unhealthy` fail the step.
 */
export async function waitContainerHealthy(
  input: { engine: EngineInput; container: string; timeoutSeconds: number },
  host: Host,
): Promise<StepResult<{ health: string }>> {
  const docker = engineOf(input.engine, host);
  const deadline = Date.now() + input.timeoutSeconds * 1000;
  const podman = await call(input.engine, 'asking the engine its version', () => isPodman(docker));
  let firstStart: string | undefined;
  let upSince: number | undefined;
  for (;;) {
    cancellationSignal()?.throwIfAborted();
    heartbeat({ waiting: input.container });
    const c = await inspectOrNull(docker, input.engine, input.container);
    if (!c) throw permanent(`the container ${input.container} is gone`, 'ContainerNotFound');
    const state = c.State;
    firstStart ??= state.StartedAt;
    const restarted = state.StartedAt !== firstStart || (state.Restarting ?? false);
    if (!state.Running || restarted) {
      throw permanent(
        `${input.container} ${restarted ? 'restarted' : `stopped (${state.Status}, exit code ${state.ExitCode})`} after it was started; ` +
          `see its logs (docker logs ${input.container})`,
        'ContainerUnhealthy',
      );
    }
    const hasCheck = hasHealthcheck(c);
    const health = (state as { Health?: { Status?: string } }).Health?.Status;
    if (hasCheck && health === 'unhealthy') {
      throw permanent(
        `${input.container}'s healthcheck says unhealthy; see docker inspect ${input.container}`,
        'ContainerUnhealthy',
      );
    }
    upSince ??= Date.now();
    // Up for two seconds (a crash at start shows), and healthy when there is a check.
    if (Date.now() - upSince >= 2000 && (!hasCheck || health === 'healthy')) {
      return done(
        `${input.container} is running${hasCheck ? ' and its healthcheck says healthy' : ' (its image has no healthcheck)'}`,
        { health: hasCheck ? 'healthy' : 'none' },
      );
    }
    if (Date.now() > deadline) {
      throw permanent(
        `${input.container} ${hasCheck ? `was not healthy within ${input.timeoutSeconds} s (${health ?? 'no status'})` : `did not stay up for ${input.timeoutSeconds} s`}`,
        'ContainerUnhealthy',
      );
    }
    if (hasCheck && podman && health !== 'healthy') await runPodmanHealthcheck(docker, c.Id);
    await sleep(500);
  }
}

/**
 * Builds the image of a commit: a clone of the repository at that commit (on the host), sent to the
 * engine as the build context. Tagged `image:revert-<commit>`; a tag already there is reused.
 */
export async function buildContainerImage(
  input: { engine: EngineInput; repo: string; commit: string; image: string; dockerfile: string },
  host: Host,
): Promise<StepResult<{ image: string }>> {
  if (!host.local) {
    throw permanent('images are built by a worker on the host (host: { worker: NAME })', 'BadInput');
  }
  const docker = engineOf(input.engine, host);
  const tag = `${input.image}:revert-${input.commit.slice(0, 12)}`;
  if (await imageOrNull(docker, input.engine, tag)) return done(`${tag} is already built`, { image: tag });
  const dir = await mkdtemp(join(tmpdir(), 'rollback-build-'));
  try {
    const git = (args: string[]) =>
      host.runner.run(['git', ...args], { timeoutMs: 300_000, onTick: () => heartbeat({ build: 'clone' }) });
    const clone = await git(['clone', '--quiet', '--no-checkout', input.repo, dir]);
    if (clone.exitCode !== 0)
      throw retryable(`git clone ${input.repo} failed: ${tail(clone.stderr, 4)}`, 'GitFailed');
    const co = await git(['-C', dir, 'checkout', '--quiet', input.commit]);
    if (co.exitCode !== 0)
      throw permanent(`git checkout ${input.commit} failed: ${tail(co.stderr, 4)}`, 'GitFailed');
    const src = (await readdir(dir)).filter((f) => f !== '.git');
    let output = '';
    try {
      const stream = await docker.buildImage({ context: dir, src }, { t: tag, dockerfile: input.dockerfile });
      await follow(docker, stream, (event) => {
        output += event.stream ?? '';
        heartbeat({ build: tag });
      });
    } catch (err) {
      throw (
        unreachable(err, input.engine) ??
        permanent(
          `building ${tag} from ${input.commit.slice(0, 12)} failed: ${engineMessage(err)}; ${tail(output, 4)}`,
          'BuildFailed',
        )
      );
    }
    if (!(await imageOrNull(docker, input.engine, tag))) {
      throw permanent(`the build of ${tag} ended without the image: ${tail(output, 4)}`, 'BuildFailed');
    }
    return done(`built ${tag} from ${input.commit.slice(0, 12)}`, { image: tag });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function containerActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    inspectContainer: (input: Parameters<typeof inspectContainer>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => inspectContainer(input, host)),
    prepareImage: (input: Parameters<typeof prepareImage>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => prepareImage(input, host)),
    stopAndRenameContainer: (input: Parameters<typeof stopAndRenameContainer>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => stopAndRenameContainer(input, host)),
    restoreKeptContainer: (input: Parameters<typeof restoreKeptContainer>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => restoreKeptContainer(input, host)),
    createStableContainer: (input: Parameters<typeof createStableContainer>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => createStableContainer(input, host)),
    removeRollbackContainer: (input: Parameters<typeof removeRollbackContainer>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => removeRollbackContainer(input, host)),
    waitContainerHealthy: (input: Parameters<typeof waitContainerHealthy>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => waitContainerHealthy(input, host)),
    buildContainerImage: (input: Parameters<typeof buildContainerImage>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => buildContainerImage(input, host)),
  };
}
