import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cleanup } from './cleanup';
import { eventually } from './eventually';
import { installedTool, stopChild } from './tools';

const run = promisify(execFile);

/**
 * A real Docker engine: Debian's docker.io daemon (scripts/install-docker.sh unpacks it into .tools
 * when the machine has none), started with an exec root, socket and pid file of its own. Its data
 * root (the images) lives in the machine's cache folder, so the images built for the compose test
 * are built once per machine; when another run's daemon holds that folder, this one gets a fresh
 * temporary data root instead (and builds cold).
 */
export interface DockerEngine {
  /** The environment the docker CLI and Compose need to reach this engine. */
  env: NodeJS.ProcessEnv;
  /** The engine's log, for a failure message. */
  log(): string;
  stop(): Promise<void>;
}

const CACHE_ROOT = join(
  process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
  'rollback-orchestrator',
  'docker',
);

function alive(pidFile: string): boolean {
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

export async function startDocker(): Promise<DockerEngine> {
  const cleanup = new Cleanup();
  try {
    const tool = installedTool('install-docker.sh');
    // Short paths: containerd's sockets live under the exec root, and unix socket paths are short.
    const dir = mkdtempSync(join(tmpdir(), 'rb-dk-'));
    cleanup.add('the engine folder', () => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(CACHE_ROOT, { recursive: true });
    const cachePid = join(CACHE_ROOT, 'dockerd.pid');
    const shared = !alive(cachePid);
    const dataRoot = shared ? join(CACHE_ROOT, 'data') : join(dir, 'data');
    const pidFile = shared ? cachePid : join(dir, 'dockerd.pid');
    if (!shared) {
      process.stderr.write(
        `[docker] ${CACHE_ROOT} is in use by another engine: images are built cold in ${dataRoot}\n`,
      );
    }
    const socket = join(dir, 'docker.sock');
    const extraPath = tool('PATH_DIRS');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: extraPath ? `${extraPath}:${process.env.PATH}` : process.env.PATH,
      ...(tool('LIBS') ? { LD_LIBRARY_PATH: tool('LIBS') } : {}),
      ...(tool('XTABLES') ? { XTABLES_LIBDIR: tool('XTABLES') } : {}),
    };
    let log = '';
    const child: ChildProcess = spawn(
      tool('DOCKERD'),
      [
        '--data-root',
        dataRoot,
        '--exec-root',
        join(dir, 'exec'),
        '-H',
        `unix://${socket}`,
        '--pidfile',
        pidFile,
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (d: Buffer) => (log = (log + d.toString()).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    cleanup.add('dockerd', () => stopChild(child));
    const cliEnv: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: env.PATH,
      DOCKER_HOST: `unix://${socket}`,
      DOCKER_BUILDKIT: '0',
    };
    await eventually(
      'dockerd to answer',
      async () => {
        if (child.exitCode !== null)
          throw new Error(`dockerd exited (${child.exitCode}): ${log.slice(-2000)}`);
        if (!existsSync(socket)) return false;
        return run('docker', ['version', '--format', '{{.Server.Version}}'], { env: cliEnv }).then(
          () => true,
          () => false,
        );
      },
      60_000,
    );
    return { env: cliEnv, log: () => log, stop: () => cleanup.run() };
  } catch (err) {
    return cleanup.abandon(err);
  }
}
