import type { Host } from '../../runner/types';
import { cancellationSignal, done, heartbeat, permanent, type StepResult } from '../common';
import {
  call,
  engineOf,
  hasHealthcheck,
  imageOrNull,
  inspectOrNull,
  isPodman,
  REPLACES_LABEL,
  ROLLBACK_LABEL,
  runPodmanHealthcheck,
  where,
  type EngineError,
  type EngineInput,
} from './engine';
import { ENGINE_ENV, parseEnvFile, toMap } from './env';
import { tagOf } from './images';

/**
 * The service's container, looked at before each change: inspected, stopped and kept under another
 * name, replaced by one with its settings and the stable image, waited on until healthy; and the
 * undos, which touch only what this rollback made.
 */

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

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

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
