import {
  groupLabel,
  splitWaves,
  type Plan,
  type RollbackKind,
  type RollbackRequest,
  type WaveSize,
} from '../model';
import type { GroupInput, GroupMember } from '../workflows/group';
import { ROLLBACK_KINDS } from '../model/kinds';
import { oneLine } from '../model/text';
import { ConfigError } from '../targets/errors';
import { newRollbackId } from './ids';
import { checkTargetPaths, getTarget, loadConfig } from '../targets/load';
import { planRollback } from '../targets/plan';
import { connectionSettings, webUiBase } from '../temporal/connection';
import type { GlobalOpts } from './options';

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

export function parseKind(kind: string): RollbackKind {
  if (!(ROLLBACK_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(
      `unknown rollback kind "${oneLine(kind)}"; use one of: ${ROLLBACK_KINDS.join(', ')}`,
    );
  }
  return kind as RollbackKind;
}

/** A target's request as `plan` and `start` make it (one target, or each of a group's). */
function requestOf(
  target: string,
  kind: RollbackKind,
  opts: Omit<PlanOptions, 'target'>,
  now: Date,
  base: string | undefined,
): RollbackRequest {
  return {
    rollbackId: newRollbackId(target, now),
    target,
    kind,
    toVersion: opts.to,
    reason: opts.reason ?? '(plan only)',
    impact: opts.impact,
    requestedBy: opts.requestedBy,
    requestedAt: now.toISOString(),
    commits: opts.commit,
    webUiBase: base,
    ...(opts.force ? { force: true } : {}),
    ...(opts.accept?.length ? { accept: opts.accept } : {}),
  };
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
  const request = requestOf(
    opts.target,
    kind,
    opts,
    new Date(),
    webUiBase(connectionSettings(global).address),
  );
  const plan = planRollback(target, request, loaded.config);
  const problems = checkTargetPaths(opts.target, target);
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return { request, plan, target, configFile: loaded.file };
}

/**
 * A group rollback as `rollback start KIND --group NAME` makes it: each target's request and plan
 * as `start --target` would (their own checks, analysis, undos), with the group's one approval in
 * place of theirs, and the waves. Refuses (ConfigError) a group the config lacks, or a target whose
 * plan is refused: nothing is started.
 */
export function prepareGroup(
  global: GlobalOpts,
  kindArg: string,
  opts: Omit<PlanOptions, 'target'> & { group: string },
): { input: GroupInput; plans: Record<string, Plan>; configFile: string } {
  const kind = parseKind(kindArg);
  const loaded = loadConfig(global.config);
  const groups = loaded.config.groups;
  if (!Object.hasOwn(groups, opts.group)) {
    const known = Object.keys(groups).join(', ') || 'none (add a groups: section)';
    throw new ConfigError(`unknown group "${oneLine(opts.group)}" in ${loaded.file}; known groups: ${known}`);
  }
  const g = groups[opts.group]!;
  const now = new Date();
  const base = webUiBase(connectionSettings(global).address);
  // Every target planned here, so a config error stops the group before it starts; the workers plan
  // each again when its turn comes (the plans are not sent: a fleet's would outgrow the input).
  const plans: Record<string, Plan> = {};
  const members: GroupMember[] = g.targets.map((name) => {
    const target = getTarget(loaded, name);
    const request = requestOf(name, kind, opts, now, base);
    plans[name] = planRollback(target, request, loaded.config);
    const problems = checkTargetPaths(name, target);
    if (problems.length) throw new ConfigError(problems.join('\n'));
    return { target: name, request, config: target };
  });
  const approvers = [...new Set(Object.values(plans).flatMap((p) => p.approval.approvers))];
  const required = g.approval.required ?? Object.values(plans).some((p) => p.approval.required);
  if (required && approvers.filter((a) => a !== opts.requestedBy).length < g.approval.quorum) {
    throw new ConfigError(
      `group "${opts.group}" needs ${g.approval.quorum} approval(s) but no approver other than ${opts.requestedBy} is configured; ` +
        "add approvers (top-level `approvers:` or the targets' `approval.approvers`), or set groups." +
        `${opts.group}.approval.required: false`,
    );
  }
  const request: RollbackRequest = {
    rollbackId: newRollbackId(`group-${opts.group}`, now),
    target: groupLabel(opts.group),
    kind,
    toVersion: opts.to,
    reason: opts.reason ?? '(plan only)',
    impact: opts.impact,
    requestedBy: opts.requestedBy,
    requestedAt: now.toISOString(),
    webUiBase: base,
  };
  const first = plans[members[0]!.target]!;
  const plan: Plan = {
    rollbackId: request.rollbackId,
    target: request.target,
    kind,
    toVersion: opts.to ?? 'each target’s stable version',
    backupPath: '',
    reportsDir: first.reportsDir,
    approval: { required, approvers, quorum: g.approval.quorum, onTimeout: 'reject' },
    // At the failure threshold an operator decides; nobody deciding in time stops the group.
    onFailure: { wait: true, timeoutSeconds: g.decisionTimeoutSeconds, default: 'abort' },
    // The group's own notices go to the config's channels (each target's rollback adds its own).
    notify: loaded.config.notify?.channels ?? [],
    webUiBase: base,
    steps: [],
  };
  const { waves, maxParallel, failureThreshold, pauseBetweenWavesSeconds, onThreshold, batchSize } = g;
  return {
    input: {
      group: opts.group,
      request,
      plan,
      members,
      waves: splitWaves(g.targets, waves as WaveSize[]),
      settings: {
        waves: waves as WaveSize[],
        maxParallel,
        failureThreshold,
        pauseBetweenWavesSeconds,
        onThreshold,
        batchSize,
      },
      defaults: {
        approvers: loaded.config.approvers,
        notify: loaded.config.notify,
        allowedSigners: loaded.config.allowedSigners,
      },
    },
    plans,
    configFile: loaded.file,
  };
}
