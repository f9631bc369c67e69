import { dirname } from 'node:path/posix';
import {
  runsOnHost,
  WAIT_ACTIVITY,
  type ActivityCall,
  type ActivityMap,
  type ActivityStep,
  type HostSpec,
  type PlanStep,
  type RollbackKind,
  type RollbackRequest,
} from '../../model';
import { clipped } from '../../model/text';
import { SAFE_REF } from '../common';
import { ConfigError } from '../errors';
import type { HostProbe, KindPlanner } from './kind';

/** Request checks and labels that more than one kind uses. */

/** Block findings accepted: the target's `analysis.accept` and the request's `--accept`. */
export function acceptedFindings(
  target: { analysis: { accept: string[] } },
  request: RollbackRequest,
): string[] {
  return [...new Set([...target.analysis.accept, ...(request.accept ?? [])])];
}

/** A probe that a program the rollback starts is on the host (PATH of a non-interactive login). */
export function programProbe(field: string, program: string, cwd?: string): HostProbe {
  return {
    argv: ['sh', '-c', 'command -v -- "$1" >/dev/null', 'sh', program],
    cwd,
    problem: `${field}: program "${program}" is not found on the host (PATH of a non-interactive login); install it or give its absolute path`,
  };
}

/** The backup folder, or the nearest folder above it that exists, takes the login's writes. */
export function backupDirProbe(backupDir: string): HostProbe {
  return {
    argv: [
      'sh',
      '-c',
      'd=$1; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; test -d "$d" -a -w "$d"',
      'sh',
      backupDir,
    ],
    problem: `the login cannot create or write backupDir ${backupDir} (nor ${dirname(backupDir)}); choose a folder it owns`,
  };
}

/** The programs of a pm2 or command service, and of the stdio MCP check, as probes. */
export function serviceProgramProbes(
  service:
    | { manager: 'pm2'; pm2Command?: string[] }
    | { manager: 'command'; start: string[]; stop: string[]; status: string[]; cwd?: string },
  stdioCommand: string[] | undefined,
  path: string,
): HostProbe[] {
  const probes: HostProbe[] = [];
  if (service.manager === 'pm2')
    probes.push(programProbe('service.pm2Command', service.pm2Command?.[0] ?? 'pm2', path));
  else
    for (const verb of ['start', 'stop', 'status'] as const)
      probes.push(programProbe(`service.${verb}`, service[verb][0]!, service.cwd ?? path));
  if (stdioCommand?.[0]) probes.push(programProbe('validate.mcpStdio.command', stdioCommand[0], path));
  return probes;
}

/** `{ QURATOR: 'false' }` → `QURATOR=false`, as titles and version labels show flags. */
export function formatFlags(flags: Record<string, string>, separator = ', '): string {
  return Object.entries(flags)
    .map(([k, v]) => `${k}=${v}`)
    .join(separator);
}

export function assertSafeVersion(version: string): void {
  if (!SAFE_REF.test(version)) {
    throw new ConfigError(
      `unsafe version "${clipped(version, 100)}": a version must be a plain git tag, branch or commit ` +
        '(letters, digits, . _ / + -, not starting with -), like v1.11.4',
    );
  }
}

const COMMIT = /^[0-9a-fA-F]{4,40}$/;

/** The offending commits of a complete rollback: commit ids or ranges A..B, at least one. */
export function assertSafeCommits(commits: string[] | undefined): string[] {
  if (!commits || commits.length === 0) {
    throw new ConfigError(
      'a complete rollback needs the offending commits: --commit SHA (repeatable) or --commit A..B',
    );
  }
  for (const c of commits) {
    const parts = c.split('..');
    if (parts.length > 2 || !parts.every((p) => COMMIT.test(p))) {
      throw new ConfigError(
        `"${clipped(c, 100)}" is not a commit id or a range A..B of commit ids (hex, 4 to 40 characters)`,
      );
    }
  }
  return commits;
}

/** The version label of a complete rollback: what it reverts. */
export function revertLabel(prefix: string, commits: string[]): string {
  return `${prefix}revert-${commits.map((c) => c.slice(0, 12)).join('-')}`.slice(0, 200);
}

export function refuseTo(request: { toVersion?: string }, what: string): void {
  if (request.toVersion) throw new ConfigError(`${what}: drop --to`);
}

/**
 * Places every call that acts on the target's host on that host (an SSH host or a host's worker);
 * a local target's plan is returned as it was, so its plans (and their goldens) do not change.
 */
export function placeOnHost<Acts extends ActivityMap>(
  steps: PlanStep<Acts>[],
  host: HostSpec | undefined,
): PlanStep<Acts>[] {
  if (!host) return steps;
  const place = <C extends ActivityCall<Acts>>(call: C): C =>
    runsOnHost(call) ? { ...call, on: host } : call;
  return steps.map((step): PlanStep<Acts> =>
    step.activity === WAIT_ACTIVITY
      ? step
      : { ...place(step as ActivityStep<Acts>), undo: step.undo.map(place) },
  );
}

/** A kind's planners with every plan's host steps placed where the target lives (`host:`). */
export function plannersOnTargetHost<T extends { host?: HostSpec }>(
  planners: Record<RollbackKind, KindPlanner<T>>,
): Record<RollbackKind, KindPlanner<T>> {
  const placed =
    (planner: KindPlanner<T>): KindPlanner<T> =>
    (target, request) => {
      const plan = planner(target, request);
      return { ...plan, steps: placeOnHost(plan.steps, target.host) };
    };
  return {
    emergency: placed(planners.emergency),
    complete: placed(planners.complete),
    partial: placed(planners.partial),
  };
}
