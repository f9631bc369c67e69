import { randomBytes } from 'node:crypto';
import type { Plan, RollbackKind, RollbackRequest } from '../model';
import { ROLLBACK_KINDS } from '../model/kinds';
import { oneLine } from '../model/text';
import { ConfigError } from '../targets/errors';
import { lazy } from './lazy';
import { checkTargetPaths, getTarget, loadConfig } from '../targets/load';
import { planRollback } from '../targets/plan';
import { connectionSettings, webUiBase } from '../temporal/connection';
import type { GlobalOpts } from './options';
import type { CliIo } from './output';
import { noteUnrecorded, recordHostChecks } from './state/host-checks';

export interface PlanOptions {
  target: string;
  to?: string;
  commit?: string[];
  reason?: string;
  impact?: string;
  /** Who asks, already checked. */
  requestedBy: string;
  /** Redeploy even when the service already runs the version asked for. */
  force?: boolean;
  /** Block findings of the pre-flight analysis the requester accepts. */
  accept?: string[];
}

export function newRollbackId(target: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${target}-${stamp}-${randomBytes(2).toString('hex')}`;
}

export function parseKind(kind: string): RollbackKind {
  if (!(ROLLBACK_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(
      `unknown rollback kind "${oneLine(kind)}"; use one of: ${ROLLBACK_KINDS.join(', ')}`,
    );
  }
  return kind as RollbackKind;
}

/** Everything `plan` and `start` share: load and validate the config, check its paths, plan. Touches nothing. */
export function preparePlan(
  global: GlobalOpts,
  kindArg: string,
  opts: PlanOptions,
): { request: RollbackRequest; plan: Plan; target: ReturnType<typeof getTarget>; configFile: string } {
  const kind = parseKind(kindArg);
  const loaded = loadConfig(global.config);
  const target = getTarget(loaded, opts.target);
  const now = new Date();
  const request: RollbackRequest = {
    rollbackId: newRollbackId(opts.target, now),
    target: opts.target,
    kind,
    toVersion: opts.to,
    reason: opts.reason ?? '(plan only)',
    impact: opts.impact,
    requestedBy: opts.requestedBy,
    requestedAt: now.toISOString(),
    commits: opts.commit,
    webUiBase: webUiBase(connectionSettings(global).address),
    ...(opts.force ? { force: true } : {}),
    ...(opts.accept?.length ? { accept: opts.accept } : {}),
  };
  const plan = planRollback(target, request, loaded.config);
  const problems = checkTargetPaths(opts.target, target);
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return { request, plan, target, configFile: loaded.file };
}

/**
 * Asks a target's SSH host, before anything starts, whether the rollback can run there: a host that
 * does not answer, shows another key, refuses the login or lacks the deploy path ends here (exit 2).
 */
export async function checkRemoteHost(
  io: CliIo,
  configFile: string,
  name: string,
  target: ReturnType<typeof getTarget>,
) {
  const check = await lazy.hostCheck().checkTargetHost(name, target);
  if (check) noteUnrecorded(io, recordHostChecks(configFile, [check]));
  if (check?.problems.length) throw new ConfigError(`${check.problems.join('\n')}\nnothing was started`);
}
