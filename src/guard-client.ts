import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { RollbackClient } from './client';
import { guardWorkflowId, type GuardSpec, type GuardStatus } from './model/guard';
import { TARGET } from './model';
import {
  guardPauseUpdate,
  guardResumeUpdate,
  guardStatusQuery,
  guardStopUpdate,
  guardWorkflow,
} from './workflows/guard';

/** A guard that is not running was asked something: say how to start one. */
export class GuardNotRunningError extends Error {
  constructor(readonly target: string) {
    super(`no guard runs for target "${target}"; start one with: rollback guard start --target ${target}`);
    this.name = 'GuardNotRunningError';
  }
}

export class GuardAlreadyRunningError extends Error {
  constructor(readonly target: string) {
    super(
      `a guard of "${target}" already runs (${guardWorkflowId(target)}); see it with: rollback guard status --target ${target}, ` +
        `or stop it first (rollback guard stop --target ${target}) to start it with a changed config`,
    );
    this.name = 'GuardAlreadyRunningError';
  }
}

/** The guard workflows of targets: one per target (its workflow id), on the rollbacks' task queue. */
export class GuardClient {
  constructor(private readonly rc: RollbackClient) {}

  async start(spec: GuardSpec): Promise<{ workflowId: string; runId: string; webUrl: string }> {
    const workflowId = guardWorkflowId(spec.target);
    try {
      const handle = await this.rc.client.workflow.start(guardWorkflow, {
        taskQueue: this.rc.taskQueue,
        workflowId,
        args: [{ spec }],
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `guard of ${spec.target}: ${spec.rules.map((r) => r.name).join(', ')}`,
        staticDetails: spec.rules
          .map(
            (r) =>
              `${r.name}: ${r.above !== undefined ? `> ${r.above}` : `< ${r.below}`} for ${r.forSeconds} s → ${r.action} ${r.kind}`,
          )
          .join('\n'),
        typedSearchAttributes: [{ key: TARGET, value: spec.target }],
      });
      return { workflowId, runId: handle.firstExecutionRunId, webUrl: this.rc.webUrl(workflowId) };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError)
        throw new GuardAlreadyRunningError(spec.target);
      throw err;
    }
  }

  private async running(target: string) {
    const handle = this.rc.client.workflow.getHandle(guardWorkflowId(target));
    try {
      const d = await handle.describe();
      if (d.status.name !== 'RUNNING') throw new GuardNotRunningError(target);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new GuardNotRunningError(target);
      throw err;
    }
    return handle;
  }

  async status(target: string): Promise<GuardStatus> {
    return (await this.running(target)).query(guardStatusQuery);
  }

  async pause(target: string, by: string, reason?: string): Promise<GuardStatus> {
    return (await this.running(target)).executeUpdate(guardPauseUpdate, { args: [{ by, reason }] });
  }

  async resume(target: string, by: string): Promise<GuardStatus> {
    return (await this.running(target)).executeUpdate(guardResumeUpdate, { args: [{ by }] });
  }

  async stop(target: string, by: string): Promise<GuardStatus> {
    return (await this.running(target)).executeUpdate(guardStopUpdate, { args: [{ by }] });
  }
}
