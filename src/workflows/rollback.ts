import {
  ApplicationFailure,
  CancellationScope,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Plan, PlanStep, RollbackRequest } from '../targets/plan';
import { progressQuery } from './messages';
import { FROM_VERSION } from './search-attributes';
import { describeError, StepRunner } from './step-runner';
import type { RollbackRecord } from './types';

const LOG_STEP: PlanStep = {
  id: 'rollback-log',
  title: 'Write the rollback-log entry',
  activity: 'appendRollbackLog',
  retry: 'record',
  input: {},
  undo: [],
};

export interface RollbackInput {
  request: RollbackRequest;
  plan: Plan;
}

/**
 * Executes a rollback plan: each step an activity, progress in a query, the recorded undos in
 * reverse when a step fails for good, and a rollback-log entry whatever the outcome.
 */
export async function rollbackWorkflow({ request, plan }: RollbackInput): Promise<RollbackRecord> {
  const startedMs = Date.now();
  const record: RollbackRecord = {
    rollbackId: plan.rollbackId,
    target: plan.target,
    kind: plan.kind,
    toVersion: plan.toVersion,
    reason: request.reason,
    impact: request.impact,
    requestedBy: request.requestedBy,
    requestedAt: request.requestedAt,
    status: 'running',
    startedAt: new Date(startedMs).toISOString(),
    steps: [...plan.steps, LOG_STEP].map((s) => ({
      id: s.id,
      title: s.title,
      activity: s.activity,
      state: 'pending',
      attempts: 0,
    })),
    undos: [],
  };
  setHandler(progressQuery, () => record);

  const runner = new StepRunner(record, (step, result) => {
    if (step.id === 'inspect' && typeof result.data.version === 'string') {
      record.fromVersion = result.data.version;
      upsertSearchAttributes([{ key: FROM_VERSION, value: result.data.version }]);
    }
  });
  runner.publish();

  let failure: unknown;
  for (const step of plan.steps) {
    try {
      await runner.runStep(step);
    } catch (err) {
      failure = err;
      record.failure = { stepId: step.id, title: step.title, message: describeError(err) };
      break;
    }
  }

  if (failure) {
    record.status = 'compensating';
    runner.publish();
    await runner.compensate();
  }
  record.status = failure
    ? record.undos.every((u) => u.state === 'succeeded')
      ? 'compensated'
      : 'failed'
    : 'succeeded';
  record.finishedAt = new Date().toISOString();
  record.durationMs = Date.now() - startedMs;
  runner.publish();

  await CancellationScope.nonCancellable(async () => {
    try {
      await runner.runStep({
        ...LOG_STEP,
        input: { reportsDir: plan.reportsDir, record: structuredCloneRecord(record) },
      });
    } catch {
      // The log is a record, not part of the rollback: its failure must not change the outcome.
    }
  });

  if (failure) {
    const undone = record.undos.length
      ? `; undid ${record.undos.filter((u) => u.state === 'succeeded').length} of ${record.undos.length} undo steps${
          record.status === 'failed'
            ? ` (failed: ${record.undos
                .filter((u) => u.state === 'failed')
                .map((u) => `${u.activity}: ${u.error}`)
                .join('; ')})`
            : ''
        }`
      : '; nothing to undo';
    throw ApplicationFailure.create({
      message: `Rollback ${workflowInfo().workflowId} failed at step "${record.failure!.title}": ${record.failure!.message}${undone}`,
      type: 'RollbackFailed',
      nonRetryable: true,
      details: [record],
    });
  }
  return record;
}

function structuredCloneRecord(record: RollbackRecord): RollbackRecord {
  return JSON.parse(JSON.stringify(record)) as RollbackRecord;
}
