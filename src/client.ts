import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { RollbackInput } from './workflows/rollback';
import {
  approveSignal,
  approveUpdate,
  auditQuery,
  decideSignal,
  decideUpdate,
  progressQuery,
  rejectSignal,
  rejectUpdate,
  type MessageResult,
} from './workflows/messages';
import type { AuditEntry, Decision } from './model';
import { FROM_VERSION, KIND, REQUESTED_BY, TARGET, TO_VERSION } from './model';
import type { RollbackRecord } from './model';
import type { Plan, RollbackRequest } from './model';

export interface ConnectionFlags {
  address?: string;
  namespace?: string;
}

/** `--address`/`--namespace`, then the Temporal CLI's own variables, then the local dev server. */
export function connectionSettings(flags: ConnectionFlags = {}): { address: string; namespace: string } {
  return {
    address: flags.address ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: flags.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default',
  };
}

/** The Web UI's address: TEMPORAL_UI_URL, else the dev server's convention (frontend port + 1000). */
export function webUiBase(address: string): string {
  if (process.env.TEMPORAL_UI_URL) return process.env.TEMPORAL_UI_URL.replace(/\/$/, '');
  const m = /^(.*):(\d+)$/.exec(address);
  return m ? `http://${m[1]}:${Number(m[2]) + 1000}` : `http://${address}`;
}

export function workflowIdFor(target: string): string {
  return `rollback-${target}`;
}

export class RollbackAlreadyRunningError extends Error {
  constructor(
    readonly target: string,
    readonly workflowId: string,
    readonly runId: string | undefined,
  ) {
    super(
      `a rollback of target "${target}" is already running: ${workflowId}${runId ? ` (run ${runId})` : ''}; ` +
        `watch it with "rollback status ${workflowId}" or wait for it to finish`,
    );
    this.name = 'RollbackAlreadyRunningError';
  }
}

/** The workflow refused an approval, rejection or decision; nothing was recorded in its history. */
export class RefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedError';
  }
}

export interface StartedRollback {
  workflowId: string;
  runId: string;
  webUrl: string;
}

export interface RollbackSummary {
  workflowId: string;
  runId: string;
  status: string;
  target?: string;
  kind?: string;
  toVersion?: string;
  fromVersion?: string;
  requestedBy?: string;
  startTime: string;
  closeTime?: string;
}

/** The typed client the CLI, the chat front end and the tests use. */
export class RollbackClient {
  private constructor(
    readonly client: Client,
    private readonly connection: Connection,
    readonly address: string,
    readonly namespace: string,
    readonly taskQueue: string,
  ) {}

  static async connect(flags: ConnectionFlags & { taskQueue?: string } = {}): Promise<RollbackClient> {
    const { address, namespace } = connectionSettings(flags);
    let connection: Connection;
    try {
      connection = await Connection.connect({ address, connectTimeout: 5000 });
    } catch (err) {
      throw new Error(
        `cannot reach the Temporal server at ${address} (${(err as Error).message}); ` +
          'start one with "rollback dev", or set TEMPORAL_ADDRESS / --address',
        { cause: err },
      );
    }
    const taskQueue = flags.taskQueue ?? process.env.ROLLBACK_TASK_QUEUE ?? 'rollback-orchestrator';
    return new RollbackClient(
      new Client({ connection, namespace }),
      connection,
      address,
      namespace,
      taskQueue,
    );
  }

  close(): Promise<void> {
    return this.connection.close();
  }

  webUrl(workflowId: string, runId?: string): string {
    const base = `${webUiBase(this.address)}/namespaces/${encodeURIComponent(this.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
    return runId ? `${base}/${runId}/history` : base;
  }

  /** Starts the rollback; refuses, naming the running one, if the target already has one. */
  async start(request: RollbackRequest, plan: Plan): Promise<StartedRollback> {
    const workflowId = workflowIdFor(request.target);
    const input: RollbackInput = { request, plan };
    try {
      const handle = await this.client.workflow.start('rollbackWorkflow', {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        // One rollback per target: Temporal allows one running execution per workflow id.
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `${request.kind} rollback of ${request.target} to ${plan.toVersion}`,
        staticDetails: `Reason: ${request.reason}\nRequested by: ${request.requestedBy}\nRollback id: ${request.rollbackId}`,
        typedSearchAttributes: [
          { key: TARGET, value: request.target },
          { key: KIND, value: request.kind },
          { key: TO_VERSION, value: plan.toVersion },
          { key: REQUESTED_BY, value: request.requestedBy },
        ],
      });
      return {
        workflowId,
        runId: handle.firstExecutionRunId,
        webUrl: this.webUrl(workflowId, handle.firstExecutionRunId),
      };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        let runId: string | undefined;
        try {
          runId = (await this.client.workflow.getHandle(workflowId).describe()).runId;
        } catch {
          /* it may have finished meanwhile */
        }
        throw new RollbackAlreadyRunningError(request.target, workflowId, runId);
      }
      throw err;
    }
  }

  async describe(workflowId: string, runId?: string): Promise<WorkflowExecutionDescription> {
    return this.client.workflow.getHandle(workflowId, runId).describe();
  }

  /** The workflow's own progress record (works for running and finished rollbacks). */
  async progress(workflowId: string, runId?: string): Promise<RollbackRecord> {
    return this.client.workflow.getHandle(workflowId, runId).query(progressQuery);
  }

  /** Waits for the end; resolves with the record and whether the rollback succeeded. */
  async result(
    workflowId: string,
    runId?: string,
  ): Promise<{ ok: boolean; record: RollbackRecord | null; error?: string }> {
    const handle = this.client.workflow.getHandle(workflowId, runId);
    try {
      return { ok: true, record: (await handle.result()) as RollbackRecord };
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const cause = err.cause;
        const record =
          cause instanceof ApplicationFailure && cause.details?.[0]
            ? (cause.details[0] as RollbackRecord)
            : null;
        return { ok: false, record, error: cause?.message ?? err.message };
      }
      throw err;
    }
  }

  async audit(workflowId: string, runId?: string): Promise<AuditEntry[]> {
    return this.client.workflow.getHandle(workflowId, runId).query(auditQuery);
  }

  /**
   * Approve, reject or decide. As an Update (default) the workflow's validator answers at once and a
   * refusal throws RefusedError with its reason; as a Signal (`viaSignal`) delivery is all we learn,
   * and a refusal shows only in the audit trail.
   */
  async act(
    workflowId: string,
    action: 'approve' | 'reject' | 'decide',
    input: { by: string; comment?: string; decision?: Decision; stepId?: string },
    viaSignal = false,
  ): Promise<MessageResult | null> {
    const handle = this.client.workflow.getHandle(workflowId);
    if (viaSignal) {
      if (action === 'decide')
        await handle.signal(decideSignal, {
          by: input.by,
          decision: input.decision!,
          comment: input.comment,
          stepId: input.stepId,
        });
      else
        await handle.signal(action === 'approve' ? approveSignal : rejectSignal, {
          by: input.by,
          comment: input.comment,
        });
      return null;
    }
    try {
      if (action === 'decide') {
        return await handle.executeUpdate(decideUpdate, {
          args: [{ by: input.by, decision: input.decision!, comment: input.comment, stepId: input.stepId }],
        });
      }
      return await handle.executeUpdate(action === 'approve' ? approveUpdate : rejectUpdate, {
        args: [{ by: input.by, comment: input.comment }],
      });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new RefusedError(err.cause?.message ?? err.message);
      throw err;
    }
  }

  /** Cancels a running rollback: the workflow undoes what it did and ends as cancelled. */
  async cancel(workflowId: string): Promise<void> {
    await this.client.workflow.getHandle(workflowId).cancel();
  }

  async list(opts: { target?: string; limit?: number } = {}): Promise<RollbackSummary[]> {
    const clauses = [`WorkflowType = 'rollbackWorkflow'`];
    if (opts.target) clauses.push(`${TARGET.name} = '${opts.target.replace(/'/g, '')}'`);
    const out: RollbackSummary[] = [];
    for await (const wf of this.client.workflow.list({ query: clauses.join(' AND ') })) {
      const attr = (k: { name: string }) => {
        const v = wf.typedSearchAttributes.get(k as never);
        return v === undefined ? undefined : String(v);
      };
      out.push({
        workflowId: wf.workflowId,
        runId: wf.runId,
        status: wf.status.name,
        target: attr(TARGET),
        kind: attr(KIND),
        toVersion: attr(TO_VERSION),
        fromVersion: attr(FROM_VERSION),
        requestedBy: attr(REQUESTED_BY),
        startTime: wf.startTime.toISOString(),
        closeTime: wf.closeTime?.toISOString(),
      });
      if (out.length >= (opts.limit ?? 50)) break;
    }
    return out;
  }
}
