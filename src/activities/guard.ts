import { Context } from '@temporalio/activity';
import { RollbackAlreadyRunningError, RollbackClient, RollbackRefusedError } from '../client';
import type { RollbackKind, RollbackRequest } from '../model';
import { oneLine } from '../model/text';
import { ConfigError } from '../targets/errors';
import { checkTargetPaths, getTarget, loadConfig } from '../targets/load';
import { planRollback } from '../targets/plan';

export interface AutomaticRollbackInput {
  configFile: string;
  target: string;
  /** Who asks: `guard:RULE`, `alert:NAME`. */
  requestedBy: string;
  /** The rule or alert that held. */
  rule: string;
  kind: RollbackKind;
  to?: string;
  /** Chosen by the caller (the guard workflow: deterministically), so a retried start recognises its own rollback. */
  rollbackId: string;
  requestedAt: string;
  reason: string;
  evidence: string[];
  webUiBase?: string;
  impact: string;
}

export interface GuardRollbackInput extends Omit<AutomaticRollbackInput, 'requestedBy' | 'impact'> {
  taskQueue: string;
}

export interface GuardRollbackOutcome {
  outcome: 'started' | 'already-running' | 'refused';
  detail: string;
  workflowId?: string;
  runId?: string;
}

/** Starts a guard's rollback (see startAutomaticRollback) with the worker's own client. */
export async function startGuardRollback(input: GuardRollbackInput): Promise<GuardRollbackOutcome> {
  const client = RollbackClient.over(Context.current().client, '', input.taskQueue);
  return startAutomaticRollback(client, {
    ...input,
    requestedBy: `guard:${input.rule}`,
    impact: 'found by the target’s guard (see the evidence)',
  });
}

/** Whether a rollback the guard started is still running (read-only). */
export async function guardRollbackRunning(input: { workflowId: string; runId?: string }): Promise<boolean> {
  const { status } = await Context.current()
    .client.workflow.getHandle(input.workflowId, input.runId)
    .describe();
  return status.name === 'RUNNING';
}

/**
 * Starts a rollback nobody typed (a guard's, an alert's) the way `rollback start` does: the config
 * as it is now, the plan, the read-only checks (Update-with-Start), one rollback per target. Safe to
 * retry: a start that went through before a crash is found again by its rollback id.
 */
export async function startAutomaticRollback(
  client: RollbackClient,
  input: AutomaticRollbackInput,
): Promise<GuardRollbackOutcome> {
  const request: RollbackRequest = {
    rollbackId: input.rollbackId,
    target: input.target,
    kind: input.kind,
    toVersion: input.to,
    reason: input.reason,
    impact: input.impact,
    requestedBy: input.requestedBy,
    requestedAt: input.requestedAt,
    webUiBase: input.webUiBase,
    trigger: { type: 'automatic', rule: input.rule, evidence: input.evidence },
  };
  try {
    const loaded = loadConfig(input.configFile);
    const target = getTarget(loaded, input.target);
    const plan = planRollback(target, request, loaded.config);
    const problems = checkTargetPaths(input.target, target);
    if (problems.length) throw new ConfigError(problems.join('\n'));
    const started = await client.startChecked(request, plan);
    return {
      outcome: 'started',
      detail: `${input.kind} rollback to ${plan.toVersion} started: ${started.workflowId}`,
      workflowId: started.workflowId,
      runId: started.runId,
    };
  } catch (err) {
    if (err instanceof RollbackAlreadyRunningError) {
      const ours = await client
        .progress(err.workflowId, err.runId, 5000)
        .then((r) => r.rollbackId === input.rollbackId)
        .catch(() => false);
      return {
        outcome: ours ? 'started' : 'already-running',
        detail: ours ? `rollback ${input.rollbackId} running: ${err.workflowId}` : err.message,
        workflowId: err.workflowId,
        runId: err.runId,
      };
    }
    if (err instanceof RollbackRefusedError || err instanceof ConfigError) {
      return {
        outcome: 'refused',
        detail: oneLine(err.message),
        workflowId: (err as RollbackRefusedError).workflowId,
      };
    }
    throw err;
  }
}
