import { join } from 'node:path/posix';
import type { HostSpec } from '../model';
import { tail, type Host } from '../runner/types';
import { cancellationSignal, done, heartbeat, retryable, type StepResult } from './common';
import type { ActivityDeps } from './deps';

const PID_FILE = '.rollback-install.pid';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function alive({ runner }: Host, pid: number): Promise<boolean> {
  return (await runner.run(['kill', '-0', String(pid)], { timeoutMs: 10_000 })).exitCode === 0;
}

/**
 * A worker killed mid-install (or an SSH connection dropped mid-install) leaves its `npm ci`
 * running as an orphan on the host. Two installs writing one node_modules at once corrupt it, so
 * before installing we find the orphan by its pid file and kill its whole process group. Re-running
 * `npm ci` from scratch is then safe: it removes node_modules and installs exactly what the lock
 * file says. Everything here runs on the target's host, through its runner.
 */
async function killOrphanedInstall(host: Host, path: string): Promise<number | null> {
  let pid: number;
  try {
    pid = Number((await host.files.read(join(path, PID_FILE))).toString('utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1) return null;
  // Pids are reused: only a process still working in this folder is our orphan.
  const cwd = await host.runner.run(['readlink', '-f', `/proc/${pid}/cwd`, path], { timeoutMs: 10_000 });
  const [procCwd, ours] = cwd.stdout.split('\n');
  if (cwd.exitCode !== 0 || !procCwd || procCwd !== ours) return null;
  await host.runner.run(['kill', '-KILL', '--', `-${pid}`], { timeoutMs: 10_000 });
  for (let i = 0; i < 20 && (await alive(host, pid)); i++) await sleep(250);
  return pid;
}

/**
 * Ends the install an earlier attempt left running in `path`, and clears its pid file (the orphan
 * may have finished by itself and left it): the pid of the orphan it ended, else null. A step that
 * looks at what is installed before it installs calls this first: an orphan still writing makes a
 * half-installed version look installed.
 */
export async function endOrphanedInstall(host: Host, path: string): Promise<number | null> {
  const pid = await killOrphanedInstall(host, path);
  await host.files.remove(join(path, PID_FILE));
  return pid;
}

/** Runs an install or build in `path`, one at a time: a retry first ends an orphan of an earlier attempt. */
export async function runGuarded(
  verb: 'install' | 'build',
  input: { path: string; argv: string[]; timeoutSeconds?: number },
  host: Host,
): Promise<StepResult> {
  const orphan = await killOrphanedInstall(host, input.path);
  const pidFile = join(input.path, PID_FILE);
  const started = Date.now();
  let recorded: Promise<void> | undefined;
  const r = await host.runner.run(input.argv, {
    cwd: input.path,
    timeoutMs: (input.timeoutSeconds ?? 900) * 1000,
    onTick: () => heartbeat({ verb, elapsedMs: Date.now() - started }),
    onSpawn: (pid) => {
      recorded = host.files.writeAtomic(pidFile, String(pid), 0o644).catch(() => undefined);
    },
    signal: cancellationSignal(),
  });
  await recorded;
  await host.files.remove(pidFile);
  if (r.exitCode !== 0) {
    throw retryable(
      `${input.argv.join(' ')} exited ${r.exitCode} in ${input.path} on ${host.label}:\n${tail(r.stderr || r.stdout)}`,
      verb === 'install' ? 'InstallFailed' : 'BuildFailed',
    );
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  return done(
    `${verb}: ${input.argv.join(' ')} ok in ${seconds}s${orphan ? ` (killed orphaned install ${orphan} first)` : ''}`,
    {
      seconds: Number(seconds),
    },
  );
}

export interface CommandInput {
  /** The deploy path: where the command runs. */
  path: string;
  argv: string[];
  timeoutSeconds?: number;
}

/** `npm ci` and builds, one at a time per deploy path, heartbeating while they run. */
export function npmActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    runInstall: (input: CommandInput, on?: HostSpec) =>
      deps.onHost(on, (host) => runGuarded('install', input, host)),
    runBuild: (input: CommandInput, on?: HostSpec) =>
      deps.onHost(on, (host) => runGuarded('build', input, host)),
  };
}
