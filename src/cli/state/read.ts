import type { WorkflowExecutionDescription } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { RollbackClient, WorkerPresence } from '../../client';
import type { RollbackRecord } from '../../model';
import {
  noticeChildren,
  pickedUp,
  recordFromHistory,
  startInput,
  type Decode,
  type HistoryEvent,
} from './history';
import { readNotices, type NoticeView } from './notices';

/** How long a worker gets to answer the progress query before the history is read instead. */
export const QUERY_DEADLINE_MS = 5000;

export interface PendingActivityView {
  activity: string;
  state: string;
  attempt: number;
  maximumAttempts?: number;
  lastFailure?: string;
}

/** A rollback as `status` and `watch` show it, whether or not a worker is there to answer. */
export interface RollbackView {
  workflowId: string;
  runId: string;
  workflowStatus: string;
  taskQueue: string;
  record: RollbackRecord;
  /** 'workflow': the record the workflow keeps (its query or its result); 'history': rebuilt from its history. */
  source: 'workflow' | 'history';
  workers: WorkerPresence;
  /** Why the record comes from the history, in plain words; absent when the workflow answered. */
  note?: string;
  pendingActivities: PendingActivityView[];
  notices?: NoticeView[];
}

function pendingActivities(desc: WorkflowExecutionDescription): PendingActivityView[] {
  const states = temporal.api.enums.v1.PendingActivityState;
  return (desc.raw.pendingActivities ?? []).map((p) => ({
    activity: p.activityType?.name ?? '?',
    state: String(states[p.state ?? 0] ?? p.state).replace(/^PENDING_ACTIVITY_STATE_/, ''),
    attempt: p.attempt ?? 1,
    maximumAttempts: p.maximumAttempts || undefined,
    lastFailure: p.lastFailure?.message ?? undefined,
  }));
}

/** The record from the workflow: its result once closed, else its progress query (a worker answers). */
async function recordFromWorkflow(
  client: RollbackClient,
  desc: WorkflowExecutionDescription,
  workers: WorkerPresence,
): Promise<RollbackRecord | undefined> {
  if (desc.status.name !== 'RUNNING') {
    const result = await client.result(desc.workflowId, desc.runId).catch(() => undefined);
    if (result?.record) return result.record;
  }
  if (!workers.polling) return undefined;
  return client.progress(desc.workflowId, desc.runId, QUERY_DEADLINE_MS).catch(() => undefined);
}

function historyNote(
  desc: WorkflowExecutionDescription,
  workers: WorkerPresence,
  everPickedUp: boolean,
): string {
  const queue = `task queue "${workers.taskQueue}"`;
  if (desc.status.name !== 'RUNNING') {
    return `it ended ${desc.status.name} without a record of its own${everPickedUp ? '' : ' (no worker ever picked it up)'}: this is what its workflow history records`;
  }
  const who = workers.polling
    ? `no worker answered within ${QUERY_DEADLINE_MS / 1000} s (one polled ${queue} ${workers.lastPollSecondsAgo ?? '?'} s ago)`
    : `no worker is polling ${queue}${workers.lastPollSecondsAgo === undefined ? '' : ` (the last poll was ${workers.lastPollSecondsAgo} s ago)`}`;
  const picked = everPickedUp ? '' : ', and none has picked this rollback up yet';
  return `${who}${picked}: this is what its workflow history records; it goes on once a worker polls that queue ("rollback worker --task-queue ${workers.taskQueue}")`;
}

/**
 * Reads a rollback: from the workflow when a worker answers, else from its history, saying so.
 * With `notices`, also the outcome of each notification it sent.
 */
export async function readRollback(
  client: RollbackClient,
  desc: WorkflowExecutionDescription,
  opts: { notices?: boolean } = {},
): Promise<RollbackView> {
  // The history names the notices; read it while the worker is asked.
  const reading = opts.notices ? client.history(desc.workflowId, desc.runId) : undefined;
  void reading?.catch(() => undefined); // awaited below
  const workers = await client.workerPresence(desc.taskQueue);
  const fromWorkflow = await recordFromWorkflow(client, desc, workers);
  const events: HistoryEvent[] = reading
    ? await reading
    : fromWorkflow
      ? []
      : await client.history(desc.workflowId, desc.runId);
  const view = {
    workflowId: desc.workflowId,
    runId: desc.runId,
    workflowStatus: desc.status.name,
    taskQueue: desc.taskQueue,
    workers,
    pendingActivities: pendingActivities(desc),
  };
  const notices = opts.notices ? await readNotices(client, noticeChildren(events)) : undefined;
  if (fromWorkflow) return { ...view, record: fromWorkflow, source: 'workflow', notices };
  const decode: Decode = <T>(p: Parameters<Decode>[0]) => client.decode<T>(p);
  const input = startInput(events, decode);
  if (!input)
    throw new Error(`${desc.workflowId} (run ${desc.runId}) is not a rollback: its start event has no plan`);
  const closed = desc.status.name !== 'RUNNING';
  const record = recordFromHistory(input, events, decode, desc.raw.pendingActivities ?? [], closed);
  return { ...view, record, source: 'history', note: historyNote(desc, workers, pickedUp(events)), notices };
}
