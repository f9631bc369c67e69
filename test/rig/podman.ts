import { execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { build } from 'esbuild';
import { follow as followStream } from '../../src/activities/container';
import { Cleanup } from './cleanup';
import { eventually } from './eventually';
import { FIXTURE_SOURCE_DIR, type FailureMode } from './fixture-repo';
import { installedTool, stopChild } from './tools';
import { withFreshPort } from './ports';
import { isAddressInUse, PortInUseError } from '../../src/temporal/dev-server';

const run = promisify(execFile);

/**
 * A real container engine for container targets: Debian's podman (scripts/install-podman.sh puts it
 * in .tools when the machine has none) serving the Docker Engine API on a socket of its own
 * (`podman system service`), with its own storage, configuration and signature policy in a temp
 * folder: host networking, cgroupfs, runc, as shared/MACHINE.md says this machine needs. Nothing
 * is pulled: `base` is an image built FROM scratch holding this machine's node and the libraries it
 * links, and `buildFixture` puts the lightdash-mcp stand-in on top of it.
 */
export interface TestEngine {
  socket: string;
  docker: Docker;
  /** A real image registry (Debian's docker-registry) on 127.0.0.1, which the engine may pull from over plain HTTP. */
  registry: string;
  /** Tags `ref` as REGISTRY/`repository:tag`, pushes it, and drops that tag from the engine (so a rollback must pull). */
  push(ref: string, repositoryTag: string): Promise<string>;
  /** `FROM scratch` + node: what fixture images (and a test's own Dockerfiles) build on. */
  base: string;
  /** Builds the fixture as `ref` (repository:tag), reporting `version`. */
  buildFixture(
    ref: string,
    opts: { version: string; failureMode?: FailureMode; healthcheck?: boolean; env?: Record<string, string> },
  ): Promise<void>;
  /** Writes a build context for the fixture (a Dockerfile FROM base, and app/ with server.js, package.json, release.json). */
  fixtureContext(
    dir: string,
    opts: { version: string; failureMode?: FailureMode; healthcheck?: boolean; env?: Record<string, string> },
  ): void;
  log(): string;
  stop(): Promise<void>;
}

const BASE = 'rollback-test/node:base';

/** The activity's own reading of a progress stream, its failure named after what was done. */
const follow = (docker: Docker, stream: NodeJS.ReadableStream, what: string) =>
  followStream(docker, stream, () => undefined).catch((err: Error) => {
    throw new Error(`${what}: ${err.message}`, { cause: err });
  });

async function buildContext(docker: Docker, context: string, tag: string): Promise<void> {
  await follow(docker, await docker.buildImage({ context, src: ['.'] }, { t: tag }), `building ${tag}`);
}

/** The node binary and every library ldd names, at their paths: enough to run node in an empty image. */
async function nodeRootfs(dir: string): Promise<void> {
  const node = process.execPath;
  mkdirSync(join(dir, 'usr', 'bin'), { recursive: true });
  cpSync(node, join(dir, 'usr', 'bin', 'node'));
  const { stdout } = await run('ldd', [node]);
  for (const lib of stdout.match(/\/\S+/g) ?? []) {
    mkdirSync(join(dir, dirname(lib)), { recursive: true });
    cpSync(lib, join(dir, lib), { dereference: true });
  }
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /\nENV PATH=/usr/bin\n');
}

export async function startEngine(): Promise<TestEngine> {
  const cleanup = new Cleanup();
  try {
    const tool = installedTool('install-podman.sh');
    const dir = mkdtempSync(join(tmpdir(), 'rollback-podman-'));
    cleanup.add('the podman folder', () => rmSync(dir, { recursive: true, force: true }));
    const home = join(dir, 'home');
    mkdirSync(join(home, '.config', 'containers'), { recursive: true });
    // containers/image reads a user's policy before /etc's: builds and pulls need one.
    writeFileSync(
      join(home, '.config', 'containers', 'policy.json'),
      JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }),
    );
    // The registry first: the engine's registries.conf names its address (plain HTTP).
    const { value: registryChild, reservation } = await withFreshPort('docker-registry', async (port) => {
      const regConf = join(dir, 'registry.yml');
      writeFileSync(
        regConf,
        [
          'version: 0.1',
          'log: { level: warn }',
          `storage: { filesystem: { rootdirectory: ${join(dir, 'registry')} }, delete: { enabled: true } }`,
          `http: { addr: 127.0.0.1:${port} }`,
          '',
        ].join('\n'),
      );
      const child = spawn(tool('REGISTRY'), ['serve', regConf], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      await eventually(`docker-registry on port ${port}`, async () => {
        if (child.exitCode !== null) {
          if (isAddressInUse(out)) throw new PortInUseError(out);
          throw new Error(`docker-registry exited: ${out}`);
        }
        const res = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => null);
        return res?.status === 200;
      });
      return child;
    });
    cleanup.add('the registry', async () => {
      await stopChild(registryChild);
      reservation.release();
    });
    const registry = `127.0.0.1:${reservation.port}`;
    const registriesConf = join(dir, 'registries.conf');
    writeFileSync(registriesConf, `[[registry]]\nlocation = "${registry}"\ninsecure = true\n`);

    const conf = join(dir, 'containers.conf');
    writeFileSync(
      conf,
      [
        '[containers]',
        'default_ulimits = []',
        'netns = "host"',
        `seccomp_profile = "${tool('SECCOMP')}"`,
        '[engine]',
        'runtime = "runc"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `conmon_path = ["${tool('CONMON')}"]`,
        '[engine.runtimes]',
        `runc = ["${tool('RUNC')}"]`,
        '',
      ].join('\n'),
    );
    mkdirSync(join(dir, 'tmp'));
    const socket = join(dir, 'api.sock');
    const storage = [
      '--root',
      join(dir, 'store'),
      '--runroot',
      join(dir, 'run'),
      '--tmpdir',
      join(dir, 'tmp'),
      '--storage-driver',
      'overlay',
    ];
    const libs = tool('LIBS');
    const env = {
      ...process.env,
      HOME: home,
      CONTAINERS_CONF: conf,
      CONTAINERS_REGISTRIES_CONF: registriesConf,
      TMPDIR: join(dir, 'tmp'),
      PATH: `${dirname(tool('CONMON'))}:${dirname(tool('RUNC'))}:${process.env.PATH}`,
      ...(libs ? { LD_LIBRARY_PATH: libs } : {}),
    };
    const child = spawn(
      tool('PODMAN'),
      [...storage, 'system', 'service', '--time', '0', `unix://${socket}`],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const docker = new Docker({ socketPath: socket });
    cleanup.add('the podman service', async () => {
      // Containers outlive the service (conmon holds them): remove them first.
      for (const c of await docker.listContainers({ all: true }).catch(() => [])) {
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
      }
      await stopChild(child);
      // Whatever overlay mounts are left under the folder go before it does.
      const mounts = readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1])
        .filter((m): m is string => !!m && m.startsWith(dir))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
    });
    await eventually(
      `podman's API on ${socket}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`podman system service exited: ${log}`);
        if (!existsSync(socket) || !statSync(socket).isSocket()) return false;
        return (await docker.ping().catch(() => null)) !== null;
      },
      30_000,
    );

    const rootfs = join(dir, 'base');
    await nodeRootfs(rootfs);
    await buildContext(docker, rootfs, BASE);
    rmSync(rootfs, { recursive: true, force: true });
    // The fixture and its dependencies (the project's own, the same versions) in one file: a
    // fixture image is the base and three small files.
    const bundle = join(dir, 'server.js');
    await build({
      entryPoints: [join(FIXTURE_SOURCE_DIR, 'server.js')],
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: bundle,
      logLevel: 'warning',
    });

    const fixtureContext: TestEngine['fixtureContext'] = (ctx, opts) => {
      mkdirSync(join(ctx, 'app'), { recursive: true });
      cpSync(bundle, join(ctx, 'app', 'server.js'));
      const manifest = JSON.parse(readFileSync(join(FIXTURE_SOURCE_DIR, 'package.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      writeFileSync(join(ctx, 'app', 'package.json'), JSON.stringify({ ...manifest, version: opts.version }));
      writeFileSync(
        join(ctx, 'app', 'release.json'),
        JSON.stringify({ failureMode: opts.failureMode ?? 'none' }),
      );
      const check =
        'fetch("http://127.0.0.1:"+(process.env.PORT||8080)+"/health").then(r=>process.exit(r.ok?0:1),()=>process.exit(1))';
      writeFileSync(
        join(ctx, 'Dockerfile'),
        [
          `FROM ${BASE}`,
          'COPY app /app',
          'WORKDIR /app',
          ...(opts.healthcheck
            ? [
                `HEALTHCHECK --interval=1s --start-period=60s --retries=3 CMD ["/usr/bin/node","-e",${JSON.stringify(check)}]`,
              ]
            : []),
          ...Object.entries(opts.env ?? {}).map(([k, v]) => `ENV ${k}=${v}`),
          'CMD ["/usr/bin/node","/app/server.js"]',
          '',
        ].join('\n'),
      );
    };

    return {
      socket,
      docker,
      registry,
      async push(ref, repositoryTag) {
        const target = `${registry}/${repositoryTag}`;
        const [repo, tag] = [
          target.slice(0, target.lastIndexOf(':')),
          target.slice(target.lastIndexOf(':') + 1),
        ];
        await docker.getImage(ref).tag({ repo, tag });
        await follow(docker, await docker.getImage(target).push({}), `pushing ${target}`);
        await docker.getImage(target).remove();
        return target;
      },
      base: BASE,
      fixtureContext,
      async buildFixture(ref, opts) {
        const ctx = mkdtempSync(join(dir, 'ctx-'));
        try {
          fixtureContext(ctx, opts);
          await buildContext(docker, ctx, ref);
        } finally {
          rmSync(ctx, { recursive: true, force: true });
        }
      },
      log: () => log,
      stop: () => cleanup.run(),
    };
  } catch (err) {
    return cleanup.abandon(err);
  }
}
