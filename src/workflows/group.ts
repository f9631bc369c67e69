import {
  ApplicationFailure,
  executeChild,
  ParentClosePolicy,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import {
  requestedEntry,
  type GroupSettings,
  type RollbackEventType,
  type Plan,
  type RollbackRecord,
  type RollbackRequest,
  type RollbackStatus,
  type StepProgress,
} from '../model';
import type { PlanDefaults } from '../targets/plan';
import { Gates } from './gates';
import {
  childId,
  childOptions,
  groupBatchWorkflow,
  inLanes,
  planTargetRollback,
  runMember,
  type GroupMember,
  type MemberOutcome,
} from './group-members';
import { notifier, type Notify } from './notify';
import { rollbackWorkflow } from './rollback';
import { describeError } from './step-runner';

export type { GroupMember } from './group-members';

export interface GroupInput {
  group: string;
  /** The group's own request (its id, reason, who asked); `target` is `group:NAME`. */
  request: RollbackRequest;
  /** The group's gates: approval (one covers every target) and the decision at the threshold. */
  plan: Plan;
  members: GroupMember[];
  /** Targets per wave, in order: the first is the canary. */
  waves: string[][];
  settings: GroupSettings;
  /** The config's approvers, channels and signers, for the compensation plans. */
  defaults: PlanDefaults;
}

/**
 * Rolls back the targets of a group in waves: each target's own rollback as a child workflow (its
 * plan, checks, undos and reports as if started alone), at most `maxParallel` at once, the next
 * wave only once the last one is done and validated. At `failureThreshold` failed targets it starts
 * no more, and stops, rolls the completed ones back to where they were, or asks (the same
 * `rollback decide` as a step: retry the failed targets, skip to go on, compensate, abort).
 */
export async function groupRollbackWorkflow(input: GroupInput): Promise<RollbackRecord> {
  const { settings } = input;
  const record = newGroupRecord(input);
  const gates = new Gates(record, input.plan);
  gates.listen();
  // The group's own notices (each target's rollback sends its own too). Replay-safe: groups planned
  // before these existed carry no channels (`plan.notify` was always empty), so notify starts nothing.
  const notify = notifier(input.plan, record);
  const close = (status: RollbackStatus, why?: string) => finish(record, status, notify, why);
  await notify('started', { plan: waveLines(input.waves) });
  const byTarget = new Map(input.members.map((m) => [m.target, m]));
  const step = (target: string) => record.steps.find((s) => s.id === target)!;
  /** What each completed target ran before: where compensation takes it back to. */
  const fromVersions = new Map<string, string | undefined>();
  let failures = 0;
  /** Failures already decided on: the threshold counts from here again. */
  let tolerated = 0;
  let batches = 0;

  if (input.plan.approval.required) {
    await notify('awaiting-approval', {
      plan: waveLines(input.waves),
      approvers: input.plan.approval.approvers,
    });
    const decided = await gates.waitForApproval(() => notify('approval-escalated'));
    if (!decided.approved) return close('rejected', `rejected by ${decided.by}`);
    record.status = 'running';
    await notify('approved', { by: decided.by, comment: decided.comment });
  }

  /** Puts what a member came to in its step. */
  function settle(target: string, outcome: MemberOutcome, startedAt: string, finishedAt: string) {
    const s = step(target);
    Object.assign(s, {
      state: outcome.state,
      summary: outcome.summary,
      lastError: outcome.lastError,
      startedAt,
      finishedAt,
      durationMs: Date.parse(finishedAt) - Date.parse(startedAt),
    });
    if (outcome.state === 'failed') failures++;
    if (outcome.state === 'succeeded') fromVersions.set(target, outcome.fromVersion);
  }

  function begin(target: string, summary?: string): string {
    const s = step(target);
    const startedAt = new Date().toISOString();
    Object.assign(s, { state: 'running', startedAt, lastError: undefined, summary });
    s.attempts++;
    return startedAt;
  }

  const overThreshold = () => failures - tolerated >= settings.failureThreshold;

  /**
   * Runs these targets, at most maxParallel at once, starting none once the threshold is reached:
   * itself when the group fits a batch, else batch by batch, each a child workflow.
   */
  async function runWave(targets: string[]): Promise<void> {
    // A group larger than a batch runs every wave in batches: a target run from the group's own
    // history costs it its plan twice and its record (~16 KB), one in a batch ~1.5 KB.
    const size = settings.batchSize ?? input.members.length;
    if (input.members.length <= size) {
      await inLanes(targets, settings.maxParallel, overThreshold, async (target) => {
        const startedAt = begin(target);
        const outcome = await runMember(byTarget.get(target)!, input.defaults);
        settle(target, outcome, startedAt, new Date().toISOString());
      });
      return;
    }
    for (let i = 0; i < targets.length && !overThreshold(); i += size) {
      const batch = targets.slice(i, i + size);
      const id = `${workflowInfo().workflowId}-batch-${++batches}`;
      for (const t of batch) begin(t, `in batch ${id}`);
      const result = await executeChild(groupBatchWorkflow, {
        workflowId: id,
        args: [
          {
            group: input.group,
            members: batch.map((t) => byTarget.get(t)!),
            defaults: input.defaults,
            maxParallel: settings.maxParallel,
            budget: settings.failureThreshold - (failures - tolerated),
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `batch ${batches} of group ${input.group}: ${batch.length} targets`,
      });
      const byOutcome = new Map(result.outcomes.map((o) => [o.target, o]));
      for (const t of batch) {
        const o = byOutcome.get(t);
        if (o) settle(t, o, o.startedAt ?? step(t).startedAt!, o.finishedAt ?? new Date().toISOString());
        else
          Object.assign(step(t), {
            state: 'pending',
            summary: undefined,
            startedAt: undefined,
            attempts: step(t).attempts - 1,
          });
      }
    }
  }

  for (let w = 0; w < input.waves.length; w++) {
    record.currentStep = `wave ${w + 1} of ${input.waves.length}`;
    await runWave(input.waves[w]!);
    while (overThreshold()) {
      const failed = record.steps.filter((s) => s.state === 'failed');
      const what = `${failures} target(s) failed (threshold ${settings.failureThreshold}): ${failed.map((s) => s.id).join(', ')}`;
      let decision: string = settings.onThreshold === 'decide' ? '' : settings.onThreshold;
      if (settings.onThreshold === 'decide') {
        const first = failed[0]!;
        await notify('step-failed', { step: { id: first.id, title: first.title, error: what } });
        ({ decision } = await gates.waitForDecision(first.id, first.title, what, input.plan.onFailure));
      }
      if (decision === 'retry') {
        failures -= failed.length;
        await runWave(failed.map((s) => s.id));
        continue;
      }
      if (decision === 'skip') {
        tolerated = failures;
        break;
      }
      record.failure = { stepId: failed[0]!.id, title: failed[0]!.title, message: what };
      if (decision === 'compensate') {
        await compensate(input, record, fromVersions);
        return close('compensated', what);
      }
      return close(decision === 'abort' ? 'aborted' : 'failed', what);
    }
    if (w < input.waves.length - 1 && settings.pauseBetweenWavesSeconds > 0) {
      record.currentStep = `pause before wave ${w + 2}`;
      await sleep(settings.pauseBetweenWavesSeconds * 1000);
    }
  }
  const skipped = record.steps.filter((s) => s.state === 'skipped');
  if (failures > 0 || skipped.length > 0) {
    return close('failed', `${failures} failed, ${skipped.length} not started (already rolling back)`);
  }
  return close('succeeded');
}

/** The waves, one line each, for a notice (targets named while a wave is short). */
function waveLines(waves: string[][]): string[] {
  return waves.map(
    (w, i) =>
      `wave ${i + 1}${i === 0 ? ' (canary)' : ''}: ${w.length <= 10 ? w.join(', ') : `${w.length} targets`}`,
  );
}

function newGroupRecord(input: GroupInput): RollbackRecord {
  const startedAt = new Date().toISOString();
  const { request, plan } = input;
  const steps: StepProgress[] = input.waves.flatMap((wave, w) =>
    wave.map((target) => ({
      id: target,
      title: `Roll back ${target} (wave ${w + 1}${w === 0 ? ', canary' : ''})`,
      activity: 'rollbackWorkflow',
      role: 'change' as const,
      state: 'pending' as const,
      attempts: 0,
    })),
  );
  return {
    rollbackId: request.rollbackId,
    target: request.target,
    kind: request.kind,
    toVersion: plan.toVersion,
    reason: request.reason,
    impact: request.impact,
    requestedBy: request.requestedBy,
    requestedAt: request.requestedAt,
    status: plan.approval.required ? 'awaiting-approval' : 'running',
    startedAt,
    steps,
    undos: [],
    approvals: [],
    decisions: [],
    audit: [requestedEntry(request, startedAt)],
  };
}

/**
 * Rolls each completed target back to the version it ran before the group started, newest first:
 * a new rollback of each (planned by an activity from the target's config), recorded as an undo.
 */
async function compensate(
  input: GroupInput,
  record: RollbackRecord,
  fromVersions: Map<string, string | undefined>,
): Promise<void> {
  record.status = 'compensating';
  const done = record.steps.filter((s) => s.state === 'succeeded').reverse();
  for (const s of done) {
    const member = input.members.find((m) => m.target === s.id)!;
    const undo = {
      stepId: s.id,
      activity: 'rollbackWorkflow',
      state: 'running' as const,
      startedAt: new Date().toISOString(),
    };
    record.undos.push(undo);
    const entry = record.undos[record.undos.length - 1]!;
    const back = fromVersions.get(s.id);
    try {
      if (!back) throw new Error(`the version ${s.id} ran before is unknown`);
      const request: RollbackRequest = {
        ...member.request,
        rollbackId: `${member.request.rollbackId}-undo`,
        kind: 'emergency',
        toVersion: back,
        commits: undefined,
        force: true,
        // Going back to what ran: nothing the analysis finds may stop that.
        accept: ['*'],
        reason: `undo of group rollback ${input.request.rollbackId}: ${record.failure?.message ?? ''}`.slice(
          0,
          500,
        ),
        requestedAt: new Date().toISOString(),
      };
      const planned = await planTargetRollback({ config: member.config, request, defaults: input.defaults });
      // Back to what ran, as a saga's undo: restored, not validated (what ran may be the release
      // that was failing its checks in the first place).
      const plan = {
        ...planned,
        approval: { ...planned.approval, required: false },
        steps: planned.steps.filter((st) => st.role !== 'validate' && st.activity !== 'wait'),
      };
      const child = await startChild(rollbackWorkflow, {
        ...childOptions({ request, plan }),
        workflowId: childId(s.id),
      });
      const result = await child.result();
      Object.assign(entry, { state: 'succeeded', summary: `back on ${result.toVersion}` });
    } catch (err) {
      Object.assign(entry, { state: 'failed', error: describeError(err) });
    }
    entry.finishedAt = new Date().toISOString();
  }
}

/** Settles the group's record, says how it ended, and returns it (succeeded) or fails with it. */
async function finish(
  record: RollbackRecord,
  status: RollbackStatus,
  notify: Notify,
  why?: string,
): Promise<RollbackRecord> {
  record.status = status;
  record.currentStep = undefined;
  record.finishedAt = new Date().toISOString();
  record.durationMs = Date.parse(record.finishedAt) - Date.parse(record.startedAt);
  for (const s of record.steps) if (s.state === 'pending') s.summary = 'not started';
  const failed = record.failure;
  const step = failed
    ? { id: failed.stepId, title: failed.title, error: failed.message }
    : why && status !== 'rejected'
      ? { id: record.target, title: record.target, error: why }
      : undefined;
  await notify(status as RollbackEventType, { step, ...(status === 'rejected' ? { comment: why } : {}) });
  if (status === 'succeeded') return record;
  throw ApplicationFailure.create({
    message: `Group rollback ${workflowInfo().workflowId} ${status}${why ? `: ${why}` : ''}`,
    type:
      status === 'aborted'
        ? 'RollbackAborted'
        : status === 'rejected'
          ? 'RollbackRejected'
          : 'RollbackFailed',
    nonRetryable: true,
    details: [record],
  });
}
