import { readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tail, type Runner } from '../runner/types';
import { cancellationSignal, done, heartbeat, retryable, type StepResult } from './common';
import type { ActivityDeps } from './deps';

const PID_FILE = '.rollback-install.pid';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A worker killed mid-install leaves its `npm ci` running as an orphan. Two installs writing one
 * node_modules at once corrupt it, so before installing we find the orphan by its pid file and
 * kill its whole process group. Re-running `npm ci` from scratch is then safe: it removes
 * node_modules and installs exactly what the lock file says.
 */
async function killOrphanedInstall(path: string): Promise<number | null> {
  let pid: number;
  try {
    pid = Number((await readFile(join(path, PID_FILE), 'utf8')).trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return null;
  // Pids are reused: only a process still working in this folder is our orphan.
  try {
    if ((await readlink(`/proc/${pid}/cwd`)) !== (await realpath(path))) return null;
  } catch {
    return null;
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* exited meanwhile */
  }
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  return pid;
}

async function runGuarded(
  verb: 'install' | 'build',
  input: { path: string; argv: string[]; timeoutSeconds?: number },
  runner: Runner,
): Promise<StepResult> {
  const orphan = await killOrphanedInstall(input.path);
  const started = Date.now();
  const r = await runner.run(input.argv, {
    cwd: input.path,
    timeoutMs: (input.timeoutSeconds ?? 900) * 1000,
    onTick: () => heartbeat({ verb, elapsedMs: Date.now() - started }),
    onSpawn: (pid) => void writeFile(join(input.path, PID_FILE), String(pid)).catch(() => undefined),
    signal: cancellationSignal(),
  });
  await rm(join(input.path, PID_FILE), { force: true });
  if (r.exitCode !== 0) {
    throw retryable(
      `${input.argv.join(' ')} exited ${r.exitCode} in ${input.path}:\n${tail(r.stderr || r.stdout)}`,
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
export function npmActivities(deps: Pick<ActivityDeps, 'runnerFor'>) {
  return {
    runInstall: (input: CommandInput) => runGuarded('install', input, deps.runnerFor()),
    runBuild: (input: CommandInput) => runGuarded('build', input, deps.runnerFor()),
  };
}
