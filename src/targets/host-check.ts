import { dirname } from 'node:path/posix';
import { openHost } from '../activities/deps';
import { hostLabel } from '../model';
import type { Host } from '../runner/types';
import { isGitTarget, type GitTarget } from './kinds/git';
import type { BaseTarget } from './kinds';

/**
 * What `rollback config check` and `rollback start` ask an SSH host, read-only, over one connection:
 * that it answers with the pinned key and lets the login in, that the deploy path is a git working
 * copy the login may change, and that the programs the rollback will start are there.
 */

export interface HostCheck {
  target: string;
  host: string;
  reachable: boolean;
  /** Problems, each naming the host and the fix; empty when the host is ready. */
  problems: string[];
  /** What was found fine, for the report. */
  checked: string[];
}

async function ok(host: Host, argv: string[], cwd?: string): Promise<boolean> {
  return (await host.runner.run(argv, { cwd, timeoutMs: 15_000 })).exitCode === 0;
}

/** The programs a git target starts on its host, with the config field that names each. */
function programs(target: GitTarget): [string, string, string | undefined][] {
  const s = target.service;
  const path = target.deploy.path;
  const list: [string, string, string | undefined][] = [
    ['git', 'git', path],
    ['deploy.install', target.deploy.install[0]!, path],
  ];
  if (target.deploy.build) list.push(['deploy.build', target.deploy.build[0]!, path]);
  if (s.manager === 'pm2') list.push(['service.pm2Command', s.pm2Command?.[0] ?? 'pm2', path]);
  else
    for (const verb of ['start', 'stop', 'status'] as const)
      list.push([`service.${verb}`, s[verb][0]!, s.cwd ?? path]);
  return list;
}

/** The check of a target's SSH host; undefined for a target that has none (nothing to log in to). */
export async function checkTargetHost(
  name: string,
  target: BaseTarget,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<HostCheck | undefined> {
  if (!isGitTarget(target) || !target.host || !('ssh' in target.host)) return undefined;
  const on = target.host;
  const label = hostLabel(on);
  const result: HostCheck = { target: name, host: label, reachable: false, problems: [], checked: [] };
  const problem = (text: string) => result.problems.push(`target "${name}" on ${label}: ${text}`);
  try {
    await openHost(env)(on, async (host) => {
      result.reachable = true;
      result.checked.push('reachable, host key matches the pin, login accepted');
      const path = target.deploy.path;
      if (!(await ok(host, ['test', '-d', `${path}/.git`]))) {
        problem(
          `deploy.path ${path} is not a git working copy the login ${on.ssh.user} can read; deploy it there or fix the path`,
        );
        return;
      }
      result.checked.push(`${path} is a git working copy`);
      if (!(await ok(host, ['test', '-w', path]))) {
        problem(`the login cannot write deploy.path ${path}; log in as the user who owns it`);
      }
      // The backup folder, or the nearest folder above it that exists, must take the login's writes.
      const probe = [
        'sh',
        '-c',
        'd=$1; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; test -d "$d" -a -w "$d"',
        'sh',
      ];
      if (!(await ok(host, [...probe, target.backupDir]))) {
        problem(
          `the login cannot create or write backupDir ${target.backupDir} (nor ${dirname(target.backupDir)}); choose a folder it owns`,
        );
      }
      for (const [field, program, cwd] of programs(target)) {
        if (await ok(host, ['sh', '-c', 'command -v -- "$1" >/dev/null', 'sh', program], cwd)) continue;
        problem(
          `${field}: program "${program}" is not found on the host (PATH of a non-interactive login); install it or give its absolute path`,
        );
      }
      if (result.problems.length === 0) result.checked.push('every program the rollback starts is there');
    });
  } catch (err) {
    problem((err as Error).message);
  }
  return result;
}
