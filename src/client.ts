import {
  Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  WithStartWorkflowOperation,
  type ConnectionLike,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { connectionSettings, resolveTaskQueue, webUiBase, type ConnectionFlags } from './temporal/connection';
import { dataConverterFromEnv } from './temporal/codec';
import { rollbackWorkflow, type RollbackInput } from './workflows/rollback';
import { groupRollbackWorkflow, type GroupInput } from './workflows/group';
import {
  approveSignal,
  approveUpdate,
  auditQuery,
  decideSignal,
  decideUpdate,
  preflightUpdate,
  progressQuery,
  rejectSignal,
  rejectUpdate,
  type MessageResult,
  type Signed,
  type PreflightResult,
} from './workflows/messages';
import {
  DEFAULT_TASK_QUEUE,
  FROM_VERSION,
  groupWorkflowId,
  KIND,
  REQUESTED_BY,
  TARGET,
  TO_VERSION,
} from './model';
import type { AuditEntry, Decision, Plan, RollbackRecord, RollbackRequest } from './model';
import { openConnection } from './temporal/connect';

export {
  connectionSettings,
  webUiBase,
  type ConnectionFlags,
  type ConnectionSettings,
} from './temporal/connection';

const LIVE_POLL_SECONDS = 120;

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

/** A read-only check of the request failed when the rollback started: it ended, nothing was written. */
export class RollbackRefusedError extends Error {
  constructor(
    message: string,
    readonly workflowId: string,
    readonly runId: string,
  ) {
    super(message);
    this.name = 'RollbackRefusedError';
  }
}

/** The workflow refused an approval, rejection or decision; nothing was recorded in its history. */
export class RefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedError';
  }
}

/** Whether any worker polls a task queue, as the server saw it (it forgets a poller after a few minutes). */
export interface WorkerPresence {
  taskQueue: string;
  polling: boolean;
  /** How long ago the most recent poll began, by this machine's clock; absent when nobody polled. */
  lastPollSecondsAgo?: number;
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
    private readonly connection: ConnectionLike,
    readonly address: string,
    readonly namespace: string,
    readonly taskQueue: string,
  ) {}

  static async connect(flags: ConnectionFlags & { taskQueue?: string } = {}): Promise<RollbackClient> {
    const settings = connectionSettings(flags);
    const taskQueue = resolveTaskQueue(flags.taskQueue, DEFAULT_TASK_QUEUE);
    // Bad keys are a config error before anything connects.
    const dataConverter = dataConverterFromEnv();
    const { address, namespace } = settings;
    const connection = await openConnection(settings);

    return new RollbackClient(
      new Client({ connection, namespace, dataConverter }),
      connection,
      address,
      namespace,
      taskQueue,
    );
  }

  /**
   * A client over a connection someone else owns (an activity's worker client: a guard starting a
   * rollback); `close` leaves that connection open.
   */
  static over(client: Client, address: string, taskQueue: string): RollbackClient {
    const borrowed = {
      workflowService: client.workflowService,
      close: async () => undefined,
    } as unknown as ConnectionLike;
    return new RollbackClient(client, borrowed, address, client.options.namespace, taskQueue);
  }

  close(): Promise<void> {
    return this.connection.close();
  }

  webUrl(workflowId: string, runId?: string): string {
    const base = `${webUiBase(this.address)}/namespaces/${encodeURIComponent(this.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
    return runId ? `${base}/${runId}/history` : base;
  }

  private startOptions(request: RollbackRequest, plan: Plan) {
    return {
      taskQueue: this.taskQueue,
      workflowId: workflowIdFor(request.target),
      args: [{ request, plan }] as [RollbackInput],
      // One rollback per target: Temporal allows one running execution per workflow id.
      workflowIdConflictPolicy: 'FAIL' as const,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
      staticSummary: `${request.kind} rollback of ${request.target} to ${plan.toVersion}`,
      staticDetails: `Reason: ${request.reason}\nRequested by: ${request.requestedBy}\nRollback id: ${request.rollbackId}`,
      typedSearchAttributes: [
        { key: TARGET, value: request.target },
        { key: KIND, value: request.kind },
        { key: TO_VERSION, value: plan.toVersion },
        { key: REQUESTED_BY, value: request.requestedBy },
      ],
    };
  }

  private async startedRun(operation: WithStartWorkflowOperation<typeof rollbackWorkflow>) {
    const handle = await operation.workflowHandle();
    return { workflowId: handle.workflowId, runId: (await handle.describe()).runId };
  }

  /** A start refused because the target already has a running rollback: name that one. */
  private async alreadyRunning(err: unknown, target: string): Promise<unknown> {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) return err;
    const workflowId = workflowIdFor(target);
    let runId: string | undefined;
    try {
      runId = (await this.client.workflow.getHandle(workflowId).describe()).runId;
    } catch {
      /* it may have finished meanwhile */
    }
    return new RollbackAlreadyRunningError(target, workflowId, runId);
  }

  /**
   * Starts a group's rollback (`rollback-group-NAME`): one per group at a time, like one per target.
   * Each target's rollback is its child, under the target's own workflow id.
   */
  async startGroup(input: GroupInput): Promise<StartedRollback> {
    const { request, plan } = input;
    try {
      const handle = await this.client.workflow.start(groupRollbackWorkflow, {
        taskQueue: this.taskQueue,
        workflowId: groupWorkflowId(input.group),
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `${request.kind} rollback of group ${input.group}: ${input.members.length} targets in ${input.waves.length} waves`,
        staticDetails: `Reason: ${request.reason}\nRequested by: ${request.requestedBy}\nTargets: ${wavesLine(input.waves)}`,
        typedSearchAttributes: [
          { key: TARGET, value: request.target },
          { key: KIND, value: request.kind },
          { key: TO_VERSION, value: plan.toVersion },
          { key: REQUESTED_BY, value: request.requestedBy },
        ],
      });
      const runId = handle.firstExecutionRunId;
      return { workflowId: handle.workflowId, runId, webUrl: this.webUrl(handle.workflowId, runId) };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      throw new RollbackAlreadyRunningError(request.target, groupWorkflowId(input.group), undefined);
    }
  }

  /** Starts the rollback and returns at once; refuses, naming the running one, if the target has one. */
  async start(request: RollbackRequest, plan: Plan): Promise<StartedRollback> {
    try {
      const handle = await this.client.workflow.start(rollbackWorkflow, this.startOptions(request, plan));
      const runId = handle.firstExecutionRunId;
      return { workflowId: handle.workflowId, runId, webUrl: this.webUrl(handle.workflowId, runId) };
    } catch (err) {
      throw await this.alreadyRunning(err, request.target);
    }
  }

  /**
   * Starts the rollback and returns once its read-only checks (the deployed version, the version
   * asked for) have passed, with what they found; when one fails, throws RollbackRefusedError:
   * the rollback ended and nothing was written (an Update-with-Start that the workflow answers).
   */
  async startChecked(
    request: RollbackRequest,
    plan: Plan,
  ): Promise<StartedRollback & { checks: PreflightResult }> {
    const operation = new WithStartWorkflowOperation(rollbackWorkflow, this.startOptions(request, plan));
    try {
      const checks = await this.client.workflow.executeUpdateWithStart(preflightUpdate, {
        startWorkflowOperation: operation,
      });
      const { workflowId, runId } = await this.startedRun(operation);
      return { workflowId, runId, webUrl: this.webUrl(workflowId, runId), checks };
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const { workflowId, runId } = await this.startedRun(operation);
        throw new RollbackRefusedError(err.cause?.message ?? err.message, workflowId, runId);
      }
      throw await this.alreadyRunning(err, request.target);
    }
  }

  async describe(workflowId: string, runId?: string): Promise<WorkflowExecutionDescription> {
    return this.client.workflow.getHandle(workflowId, runId).describe();
  }

  /**
   * The workflow's own progress record (running and finished rollbacks). A worker answers it: with
   * `deadlineMs`, give up after that long instead of the server's own (long) query timeout.
   */
  async progress(workflowId: string, runId?: string, deadlineMs?: number): Promise<RollbackRecord> {
    const ask = () => this.client.workflow.getHandle(workflowId, runId).query(progressQuery);
    return deadlineMs === undefined ? ask() : this.client.withDeadline(Date.now() + deadlineMs, ask);
  }

  /**
   * Whether a worker polls the task queue for workflow tasks (nobody would run a rollback there
   * otherwise), or for activity tasks (a host's own worker). The server lists a poller for minutes after its worker went away; a live worker
   * polls again at least every minute or so, so a poll older than two minutes is not counted.
   */
  async workerPresence(
    taskQueue: string = this.taskQueue,
    tasks: 'workflow' | 'activity' = 'workflow',
  ): Promise<WorkerPresence> {
    const { pollers } = await this.connection.workflowService.describeTaskQueue({
      namespace: this.namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType:
        tasks === 'workflow'
          ? temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
          : temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    const ages = (pollers ?? []).map((p) =>
      p.lastAccessTime?.seconds ? (Date.now() - Number(p.lastAccessTime.seconds) * 1000) / 1000 : 0,
    );
    if (ages.length === 0) return { taskQueue, polling: false };
    const latest = Math.max(0, Math.round(Math.min(...ages)));
    return { taskQueue, polling: latest <= LIVE_POLL_SECONDS, lastPollSecondsAgo: latest };
  }

  /** Every event of a run's history. */
  async history(workflowId: string, runId?: string): Promise<temporal.api.history.v1.IHistoryEvent[]> {
    const history = await this.client.workflow.getHandle(workflowId, runId).fetchHistory();
    return history.events ?? [];
  }

  /**
   * Waits until the run's history grows past `token` (where the last call left off; none: from the
   * start) or the server's long poll ends with nothing new (~20 s), and returns where it now ends.
   * The server answers when an event is written, so a follower learns of a step at once and reads
   * nothing while nothing happens. `closed`: the run has ended; there is nothing more to wait for.
   */
  async historyChange(
    workflowId: string,
    runId: string,
    token: Uint8Array | undefined,
    signal: AbortSignal,
  ): Promise<{ token: Uint8Array | undefined; closed: boolean }> {
    // A signal of this call's own: the SDK keeps a listener on the signal it is given.
    const call = new AbortController();
    const stop = () => call.abort();
    signal.addEventListener('abort', stop, { once: true });
    let res: temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse;
    try {
      res = await this.client.withAbortSignal(call.signal, () =>
        this.client.workflowService.getWorkflowExecutionHistory({
          namespace: this.namespace,
          execution: { workflowId, runId },
          nextPageToken: token,
          waitNewEvent: true,
          skipArchival: true,
        }),
      );
    } finally {
      signal.removeEventListener('abort', stop);
    }
    const next = res.nextPageToken?.length ? res.nextPageToken : undefined;
    return { token: next, closed: next === undefined };
  }

  /** Turns a payload of this client's histories back into its value. */
  decode<T = unknown>(payload: temporal.api.common.v1.IPayload | null | undefined): T | undefined {
    if (!payload) return undefined;
    return this.client.options.loadedDataConverter.payloadConverter.fromPayload<T>(payload as never);
  }

  /** Ends a run at once: no undo runs. For rollbacks no worker ever picked up, where none is needed. */
  async terminate(workflowId: string, runId: string, reason: string): Promise<void> {
    await this.client.workflow.getHandle(workflowId, runId).terminate(reason);
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
    input: { by: string; comment?: string; decision?: Decision; stepId?: string } & Signed,
    viaSignal = false,
  ): Promise<MessageResult | null> {
    const handle = this.client.workflow.getHandle(workflowId);
    const signed = {
      ...(input.signature ? { signature: input.signature, nonce: input.nonce } : {}),
      ...(input.channel ? { channel: input.channel } : {}),
    };
    const approval = { by: input.by, comment: input.comment, ...signed };
    const decision = { ...approval, decision: input.decision!, stepId: input.stepId };
    if (viaSignal) {
      if (action === 'decide') await handle.signal(decideSignal, decision);
      else await handle.signal(action === 'approve' ? approveSignal : rejectSignal, approval);
      return null;
    }
    try {
      if (action === 'decide') return await handle.executeUpdate(decideUpdate, { args: [decision] });
      return await handle.executeUpdate(action === 'approve' ? approveUpdate : rejectUpdate, {
        args: [approval],
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
    // Group rollbacks too (their target is `group:NAME`): a fleet's rollback is listed beside its members'.
    const clauses = [`WorkflowType IN ('rollbackWorkflow', 'groupRollbackWorkflow')`];
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

/** The waves' targets for the Web UI's details: a fleet's first 40 names, then how many more. */
function wavesLine(waves: string[][], max = 40): string {
  let shown = 0;
  const parts = waves.map((w) => {
    const names = w.slice(0, Math.max(0, max - shown));
    shown += names.length;
    return names.join(', ') + (names.length < w.length ? `, … ${w.length - names.length} more` : '');
  });
  return parts.join(' | ');
}
