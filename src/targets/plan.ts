import {
  leadingChecks,
  PLAN_FORMAT,
  ref,
  ROLLBACK_REF,
  type ApprovalPolicy,
  type FailurePolicy,
  type Plan,
  type PlanStep,
  type RollbackKind,
  type RollbackRequest,
} from '../model';
import { ANALYZE_STEP, FINDING_ID } from '../model/analysis';
import { parseAllowedSigners } from '../model/signatures';
import { ConfigError } from './errors';
import { targetKinds, type BaseTarget, type TargetKinds } from './kinds';
import type { RollbackConfig } from './schema';

/**
 * A rollback plan is data: the CLI prints it, an approver reads it, the workflow executes it.
 * planRollback is pure (no I/O, no clock), so what was reviewed is exactly what runs. The target's
 * kind plans its own steps; everything every kind shares (the incident record, approval, failure
 * and notification policies) is added here.
 */

export type PlanDefaults = Pick<RollbackConfig, 'approvers' | 'notify'> & { allowedSigners?: string[] };

/** The first step of every plan: the incident log, written before anything changes. */
function incidentStep(
  request: RollbackRequest,
  toVersion: string,
  reportsDir: string,
  affected: string[],
  analyzed: boolean,
): PlanStep {
  return {
    id: 'incident',
    title: 'Record the incident',
    role: 'record',
    activity: 'recordIncident',
    retry: 'record',
    input: {
      reportsDir,
      rollbackId: request.rollbackId,
      target: request.target,
      kind: request.kind,
      toVersion,
      reason: request.reason,
      impact: request.impact ?? 'not stated',
      requestedBy: request.requestedBy,
      requestedAt: request.requestedAt,
      affectedSystems: [request.target, ...affected],
      ...(request.trigger ? { trigger: request.trigger } : {}),
      ...(analyzed ? { findings: ref(`${ANALYZE_STEP}.findings`) } : {}),
    },
    undo: [],
  };
}

/** The last step of every rollback, whatever its outcome: the rollback-log entry and the analysis. */
function reportStep(reportsDir: string): PlanStep {
  return {
    id: 'rollback-log',
    title: 'Write the rollback-log entry',
    role: 'record',
    activity: 'appendRollbackLog',
    retry: 'record',
    input: { reportsDir, record: ref(`${ROLLBACK_REF}.record`) },
    undo: [],
  };
}

const article = (word: string) => (/^[aeiou]/i.test(word) ? 'an' : 'a');

const APPROVAL_DEFAULT: Record<RollbackKind, boolean> = { emergency: false, complete: true, partial: false };
const WAIT_DEFAULT: Record<RollbackKind, boolean> = { emergency: false, complete: true, partial: true };

function policies(target: BaseTarget, request: RollbackRequest, defaults: PlanDefaults) {
  const kind = request.kind;
  const approvers = [...new Set([...defaults.approvers, ...target.approval.approvers])];
  const approval: ApprovalPolicy = {
    required: target.approval.required[kind] ?? APPROVAL_DEFAULT[kind],
    approvers,
    quorum: target.approval.quorum,
    timeoutSeconds: target.approval.timeoutSeconds,
    onTimeout: target.approval.onTimeout,
  };
  if (target.approval.requireSignature) {
    const signers = parseAllowedSigners([
      ...(defaults.allowedSigners ?? []),
      ...target.approval.allowedSigners,
    ]);
    const unsigned = approvers.filter((a) => !signers.some((s) => s.principals.includes(a)));
    if (signers.length === 0 || (approval.required && unsigned.length > 0)) {
      throw new ConfigError(
        `target "${request.target}" requires signed approvals, but ${signers.length === 0 ? 'no allowed signers are configured' : `${unsigned.join(', ')} ${unsigned.length === 1 ? 'has' : 'have'} no key among the allowed signers`}; ` +
          "add their public keys as allowed_signers lines (top-level `allowedSigners:` or the target's `approval.allowedSigners`)",
      );
    }
    approval.requireSignature = true;
    approval.signers = signers;
  }
  if (approval.required) {
    const eligible = approvers.filter((a) => a !== request.requestedBy);
    if (eligible.length < approval.quorum) {
      throw new ConfigError(
        `target "${request.target}": ${article(kind)} ${kind} rollback needs ${approval.quorum} approval(s) but only ` +
          `${eligible.length} approver(s) other than ${request.requestedBy} are configured; add approvers ` +
          "(top-level `approvers:` or the target's `approval.approvers`)",
      );
    }
  }
  const onFailure: FailurePolicy = {
    wait: target.onFailure.wait[kind] ?? WAIT_DEFAULT[kind],
    timeoutSeconds: target.onFailure.timeoutSeconds,
    default: target.onFailure.default[kind] ?? 'compensate',
  };
  if (!onFailure.wait && onFailure.default === 'retry') {
    throw new ConfigError(
      `target "${request.target}": onFailure.default.${kind} is retry but nobody is asked (onFailure.wait.${kind} is false): ` +
        'a step that fails for good would be retried forever; set wait to true or choose compensate, skip or abort',
    );
  }
  const notify = [...(defaults.notify?.channels ?? []), ...(target.notify?.channels ?? [])];
  if (onFailure.default === 'retry') {
    throw new ConfigError(
      `target "${request.target}": onFailure.default.${kind} is retry: the default applies each time nobody decides in ` +
        `${onFailure.timeoutSeconds} s, so a step that keeps failing would be retried for ever; choose compensate, skip ` +
        'or abort as the default (an operator can still decide retry)',
    );
  }
  return { approval, onFailure, notify };
}

export function planRollback(
  target: BaseTarget,
  request: RollbackRequest,
  defaults: PlanDefaults = { approvers: [] },
  kinds: TargetKinds = targetKinds,
): Plan {
  if (!/^[A-Za-z0-9._-]+$/.test(request.rollbackId)) {
    throw new ConfigError(`rollback id "${request.rollbackId}" may hold only letters, digits, . _ -`);
  }
  const planned = kinds.plan(target, request);
  // Read-only checks first: a version that does not exist is refused before anything is written.
  const checks = leadingChecks(planned.steps);
  for (const id of request.accept ?? []) {
    if (!FINDING_ID.test(id)) {
      throw new ConfigError(
        `--accept ${JSON.stringify(id)} is not a finding id: give one the analysis names, such as migration:20261101_add_orders or env:API_KEY`,
      );
    }
  }
  const analyzed = checks.some((s) => s.id === ANALYZE_STEP);
  const incident = incidentStep(request, planned.toVersion, target.reportsDir, planned.affected, analyzed);
  return {
    format: PLAN_FORMAT,
    rollbackId: request.rollbackId,
    target: request.target,
    kind: request.kind,
    toVersion: planned.toVersion,
    backupPath: planned.backupPath,
    reportsDir: target.reportsDir,
    ...policies(target, request, defaults),
    webUiBase: request.webUiBase,
    steps: [...checks, incident, ...planned.steps.slice(checks.length)],
    finalSteps: [reportStep(target.reportsDir)],
  };
}

/** Human-readable plan, as `rollback plan` prints it and an approver sees it. */
export function formatPlan(plan: Plan): string {
  const lines = [`Plan ${plan.rollbackId}: ${plan.kind} rollback of ${plan.target} to ${plan.toVersion}`];
  if (plan.approval.required) {
    lines.push(
      `  needs ${plan.approval.quorum} approval(s) from: ${plan.approval.approvers.join(', ')}` +
        (plan.approval.timeoutSeconds
          ? ` (escalates after ${plan.approval.timeoutSeconds} s, then ${plan.approval.onTimeout}s)`
          : ''),
    );
  }
  const checks = leadingChecks(plan.steps).length;
  [...plan.steps, ...(plan.finalSteps ?? [])].forEach((s, i) => {
    if (i === checks && checks > 0) lines.push('  then, once those read-only checks passed:');
    if (i === plan.steps.length) lines.push('  at the end, whatever the outcome:');
    lines.push(`  ${String(i + 1).padStart(2)}. ${s.title}  [${s.activity}, retry: ${s.retry}]`);
    if (s.undo.length > 0) lines.push(`      undo: ${s.undo.map((u) => u.activity).join(' → ')}`);
  });
  lines.push(
    `  on a step that fails for good: ${plan.onFailure.wait ? `wait up to ${plan.onFailure.timeoutSeconds} s for a decision, then ` : ''}${plan.onFailure.default}`,
    `  backups: ${plan.backupPath}`,
    `  reports: ${plan.reportsDir}`,
  );
  return lines.join('\n');
}
