import {
  ParentClosePolicy,
  proxyActivities,
  startChild,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { KIND, REQUESTED_BY, TARGET, TO_VERSION, type Plan, type RollbackRequest } from '../model';
import type { PlanDefaults } from '../targets/plan';
import { rollbackWorkflow, type RollbackInput } from './rollback';
import { describeError } from './step-runner';

/**
 * The members of a group rollback: how one target's rollback is planned and run as a child of
 * the group (or of one of its batches), lanes of them at once, and the batch workflow a large
 * group runs its waves in (see group.ts).
 */

/**
 * One target of a group: its request as `rollback start` would make it, and its config. The plan
 * is made on a worker when the target's turn comes (the same planner as the CLI's): a fleet's
 * plans together would outgrow a workflow's input.
 */
export interface GroupMember {
  target: string;
  request: RollbackRequest;
  /** The target's config: its plan, and the plan back to where it was (compensation), come from it. */
  config: unknown;
}

export const { planTargetRollback } = proxyActivities<Pick<Activities, 'planTargetRollback'>>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3 },
});

/** A child's id: the target's own, so the per-target lock holds across CLI, guard and group. */
export const childId = (target: string) => `rollback-${target}`;

export function childOptions(input: RollbackInput) {
  const { request, plan } = input;
  return {
    workflowId: childId(request.target),
    args: [input] as [RollbackInput],
    // The target's rollback finishes (or undoes itself) even if the group is terminated.
    parentClosePolicy: ParentClosePolicy.ABANDON,
    staticSummary: `${request.kind} rollback of ${request.target} to ${plan.toVersion} (group)`,
    typedSearchAttributes: [
      { key: TARGET, value: request.target },
      { key: KIND, value: request.kind },
      { key: TO_VERSION, value: plan.toVersion },
      { key: REQUESTED_BY, value: request.requestedBy },
    ],
  };
}

/** What running one member came to. */
export interface MemberOutcome {
  state: 'succeeded' | 'failed' | 'skipped';
  summary?: string;
  lastError?: string;
  fromVersion?: string;
}

/**
 * One member's rollback: planned by an activity on a worker (its own approval is the group's),
 * run as its child under the target's own workflow id; a target already rolling back is reported,
 * never started twice.
 */
export async function runMember(member: GroupMember, defaults: PlanDefaults): Promise<MemberOutcome> {
  let plan: Plan;
  try {
    plan = await planTargetRollback({ config: member.config, request: member.request, defaults });
  } catch (err) {
    return { state: 'failed', lastError: `planning failed: ${describeError(err)}` };
  }
  // One approval covers the group: the targets' rollbacks run without their own gate.
  plan = { ...plan, approval: { ...plan.approval, required: false } };
  let child: ChildWorkflowHandle<typeof rollbackWorkflow>;
  try {
    child = await startChild(rollbackWorkflow, childOptions({ request: member.request, plan }));
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return {
      state: 'skipped',
      summary: `not started: ${childId(member.target)} is already rolling back ${member.target}`,
    };
  }
  try {
    const result = await child.result();
    return {
      state: 'succeeded',
      summary: `${result.fromVersion ?? '?'} → ${result.toVersion} (${child.workflowId})`,
      fromVersion: result.fromVersion,
    };
  } catch (err) {
    return { state: 'failed', lastError: describeError(err) };
  }
}

/** Runs `fn` over the items, at most `lanes` at once, starting none once `stop()` says so. */
export async function inLanes<T>(
  items: T[],
  lanes: number,
  stop: () => boolean,
  fn: (item: T) => Promise<void>,
) {
  const queue = [...items];
  const lane = async () => {
    while (queue.length > 0 && !stop()) await fn(queue.shift()!);
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
}

/** A batch of a large wave: run by a child workflow of its own, so no history grows with the fleet. */
export interface GroupBatchInput {
  group: string;
  members: GroupMember[];
  defaults: PlanDefaults;
  maxParallel: number;
  /** Failures at which the batch starts no more targets (what is left of the group's threshold). */
  budget: number;
}

export interface GroupBatchResult {
  outcomes: (MemberOutcome & { target: string; startedAt?: string; finishedAt?: string })[];
}

/** The targets of one batch, as the group would run them itself (see groupRollbackWorkflow). */
export async function groupBatchWorkflow(input: GroupBatchInput): Promise<GroupBatchResult> {
  const outcomes: GroupBatchResult['outcomes'] = [];
  let failures = 0;
  await inLanes(
    input.members,
    input.maxParallel,
    () => failures >= input.budget,
    async (member) => {
      const startedAt = new Date().toISOString();
      const outcome = await runMember(member, input.defaults);
      if (outcome.state === 'failed') failures++;
      outcomes.push({ target: member.target, ...outcome, startedAt, finishedAt: new Date().toISOString() });
    },
  );
  return { outcomes };
}
