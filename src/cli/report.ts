import type { RollbackClient } from '../client';
import { ConfigError } from '../targets/errors';
import type { Plan } from '../model';
import type { RollbackRecord } from '../model';
import type { RollbackInput } from '../workflows/rollback';
import type { IncidentFields, ReportBundle } from '../reports';

/** Where commands write: tests pass collectors (kept here for the suites that import it from here). */
export type { CliIo } from './output';

export interface LoadedRollback {
  workflowId: string;
  runId: string;
  workflowStatus: string;
  record: RollbackRecord;
  /** The plan's incident input, from the workflow's start event; null when history is unavailable. */
  incident: IncidentFields | null;
}

const QUERY_DEADLINE_MS = 15_000;

/** A rollback id (`TARGET-YYYYMMDD-HHMMSS-xxxx`) names no workflow: find the run whose record has it. */
async function findByRollbackId(
  client: RollbackClient,
  rollbackId: string,
): Promise<{ workflowId: string; runId: string } | null> {
  const rows = await client.list({ limit: 500 });
  for (const row of rows) {
    if (row.target && !rollbackId.startsWith(`${row.target}-`)) continue;
    try {
      const record = await recordOf(client, row.workflowId, row.runId, row.status);
      if (record?.rollbackId === rollbackId) return { workflowId: row.workflowId, runId: row.runId };
    } catch {
      /* a run we cannot read is not the one */
    }
  }
  return null;
}

/**
 * The record of a run. A closed run's result (or failure details) is the record the progress
 * query returns, and reading it needs no worker; a running one, or one that ended without a
 * result (terminated, timed out), is asked through the progress query.
 */
async function recordOf(
  client: RollbackClient,
  workflowId: string,
  runId: string,
  status: string,
): Promise<RollbackRecord | null> {
  if (status !== 'RUNNING') {
    try {
      const r = await client.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
        client.result(workflowId, runId),
      );
      if (r.record) return r.record;
    } catch {
      /* no result to read: ask the workflow */
    }
  }
  return client.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => client.progress(workflowId, runId));
}

/** The incident step's input, as the plan the workflow started with gave it. */
async function incidentOf(
  client: RollbackClient,
  workflowId: string,
  runId: string,
): Promise<IncidentFields | null> {
  try {
    const history = await client.client.workflow.getHandle(workflowId, runId).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (!payload) return null;
    const input = client.client.options.loadedDataConverter.payloadConverter.fromPayload<RollbackInput>(
      payload as Parameters<typeof client.client.options.loadedDataConverter.payloadConverter.fromPayload>[0],
    );
    const plan: Plan | undefined = input?.plan;
    const step = plan?.steps.find((s) => s.activity === 'recordIncident');
    return step ? (step.input as unknown as IncidentFields) : null;
  } catch {
    return null;
  }
}

/** Finds a rollback by workflow id (`rollback-TARGET`, optionally `@RUN_ID`) or by rollback id. */
export async function loadRollback(
  client: RollbackClient,
  id: string,
  run?: string,
): Promise<LoadedRollback> {
  const [idPart, runFromId] = id.split('@');
  let workflowId = idPart!;
  let runId = run ?? runFromId;
  let desc;
  try {
    desc = await client.describe(workflowId, runId);
  } catch (err) {
    const found = runId ? null : await findByRollbackId(client, workflowId);
    if (!found) {
      throw new ConfigError(
        `no rollback with id ${id}: ${(err as Error).message}; give a workflow id (rollback-TARGET[@RUN_ID]) or a rollback id, see "rollback list"`,
      );
    }
    ({ workflowId, runId } = found);
    desc = await client.describe(workflowId, runId);
  }
  runId = desc.runId;
  const workflowStatus = desc.status.name;
  let record: RollbackRecord | null;
  try {
    record = await recordOf(client, workflowId, runId, workflowStatus);
  } catch (err) {
    throw new Error(
      `cannot read the record of ${workflowId} (run ${runId}): ${(err as Error).message}; a worker must be running to answer for this rollback ("rollback worker")`,
      { cause: err },
    );
  }
  if (!record) throw new Error(`${workflowId} (run ${runId}) has no record`);
  return { workflowId, runId, workflowStatus, record, incident: await incidentOf(client, workflowId, runId) };
}

export function renderBundleMarkdown(bundle: ReportBundle): string {
  return (
    [bundle.incident, bundle.logEntry, bundle.analysis].map((s) => s.trimEnd()).join('\n\n---\n\n') + '\n'
  );
}

export function bundleJson(loaded: LoadedRollback, bundle: ReportBundle) {
  return {
    workflowId: loaded.workflowId,
    runId: loaded.runId,
    workflowStatus: loaded.workflowStatus,
    rollbackId: loaded.record.rollbackId,
    criteria: bundle.criteria,
    analysis: bundle.analysisData,
    markdown: { incident: bundle.incident, logEntry: bundle.logEntry, analysis: bundle.analysis },
    record: loaded.record,
  };
}
