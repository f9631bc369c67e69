import { openHost } from '../activities/deps';
import { hostLabel, hostQueue, targetHost } from '../model';
import type { Host } from '../runner/types';
import { targetKinds, type BaseTarget, type TargetKinds } from './kinds';
import type { HostProbe } from './kinds/kind';

/**
 * What `rollback config check` and `rollback start` ask an SSH host, read-only, over one connection:
 * that it answers with the pinned key and lets the login in, then what the target's kind asks (its
 * folders and the login's rights there, the backup folder, the programs the rollback will start).
 */

export interface HostCheck {
  target: string;
  host: string;
  /** How the orchestrator reaches it: logging in over SSH, or through the host's own worker. */
  via: 'ssh' | 'worker';
  /** When it was asked (ISO time). */
  at: string;
  reachable: boolean;
  /** Problems, each naming the host and the fix; empty when the host is ready. */
  problems: string[];
  /** What was found fine, for the report. */
  checked: string[];
}

async function ok(host: Host, argv: string[], cwd?: string): Promise<boolean> {
  return (await host.runner.run(argv, { cwd, timeoutMs: 15_000 })).exitCode === 0;
}

/** The check of a target's SSH host; undefined for a target that has none (nothing to log in to). */
export async function checkTargetHost(
  name: string,
  target: BaseTarget,
  env: Readonly<Record<string, string | undefined>> = process.env,
  kinds: TargetKinds = targetKinds,
): Promise<HostCheck | undefined> {
  const on = targetHost(target);
  if (!on || !('ssh' in on)) return undefined;
  const label = hostLabel(on);
  const result: HostCheck = {
    target: name,
    host: label,
    via: 'ssh',
    at: new Date().toISOString(),
    reachable: false,
    problems: [],
    checked: [],
  };
  const problem = (text: string) => result.problems.push(`target "${name}" on ${label}: ${text}`);
  const probes: HostProbe[] = kinds.kindOf(target).hostProbes?.(target, on.ssh.user) ?? [];
  try {
    await openHost(env)(on, async (host) => {
      result.reachable = true;
      result.checked.push('reachable, host key matches the pin, login accepted');
      for (const probe of probes) {
        if (await ok(host, probe.argv, probe.cwd)) {
          if (probe.ok) result.checked.push(probe.ok);
          continue;
        }
        problem(probe.problem);
        if (probe.fatal) return;
      }
      if (result.problems.length === 0) result.checked.push('every program the rollback starts is there');
    });
  } catch (err) {
    problem((err as Error).message);
  }
  return result;
}

/** A target's host worker, when it has one (its steps go to that worker's task queue). */
export function hostWorkerOf(target: BaseTarget): string | undefined {
  const on = targetHost(target);
  return on && 'worker' in on ? on.worker : undefined;
}

/**
 * The check of a target's host worker: whether a worker polls the host's task queue now.
 * `presence` asks Temporal (it may throw: the server is down, which is a problem too).
 */
export async function checkTargetWorker(
  name: string,
  worker: string,
  presence: (queue: string) => Promise<{ polling: boolean; lastPollSecondsAgo?: number }>,
): Promise<HostCheck> {
  const queue = hostQueue(worker);
  const label = hostLabel({ worker });
  const result: HostCheck = {
    target: name,
    host: label,
    via: 'worker',
    at: new Date().toISOString(),
    reachable: false,
    problems: [],
    checked: [],
  };
  try {
    const seen = await presence(queue);
    if (seen.polling) {
      result.reachable = true;
      result.checked.push(`a worker polls ${queue} (last poll ${seen.lastPollSecondsAgo ?? 0} s ago)`);
    } else {
      result.problems.push(
        `target "${name}" on ${label}: no worker polls ${queue}${seen.lastPollSecondsAgo !== undefined ? ` (last poll ${seen.lastPollSecondsAgo} s ago)` : ''}; start one on the host with "rollback worker --host ${worker}"`,
      );
    }
  } catch (err) {
    result.problems.push(
      `target "${name}" on ${label}: cannot ask Temporal whether a worker polls ${queue}: ${(err as Error).message}`,
    );
  }
  return result;
}
