import { randomBytes } from 'node:crypto';
import { oneLine } from '../model/text';
import { usage } from './errors';

/** A rollback as the commands name it: its workflow id, and a run when one is given. */
export interface RollbackRef {
  /** As typed, for messages. */
  id: string;
  workflowId: string;
  runId?: string;
}

const RUN_ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const HINT = 'give a workflow id like rollback-TARGET (optionally @RUN_ID); see "rollback list"';

/** Why `id` cannot name a workflow, or undefined. Checked before connecting to anything. */
function idProblem(
  id: string,
  workflowId: string,
  runId: string | undefined,
  atRun: boolean,
): string | undefined {
  const shown = `"${oneLine(id)}"`;
  if (id === '') return `the rollback id is empty; ${HINT}`;
  if (/\s/.test(id) || oneLine(id) !== id)
    return `the rollback id ${shown} holds spaces or control characters; ${HINT}`;
  if (id.split('@').length > 2) return `the rollback id ${shown} has more than one "@"; ${HINT}`;
  if (!workflowId) return `the rollback id ${shown} names no workflow before "@"; ${HINT}`;
  if (workflowId === 'rollback-')
    return `the rollback id ${shown} names no target after "rollback-"; ${HINT}`;
  if (atRun && !runId) return `the rollback id ${shown} has "@" but no run id after it; ${HINT}`;
  if (runId && !RUN_ID.test(runId))
    return `the run id "${oneLine(runId)}" in ${shown} is not a run id (a UUID); ${HINT}`;
  return undefined;
}

/** Parses `rollback-TARGET[@RUN_ID]` (and `--run RUN_ID`); a malformed id is refused with exit 2, naming it. */
export function parseRollbackId(id: string, run?: string): RollbackRef {
  const at = id.indexOf('@');
  const workflowId = at < 0 ? id : id.slice(0, at);
  const runFromId = at < 0 ? undefined : id.slice(at + 1).split('@')[0];
  const problem = idProblem(id, workflowId, runFromId, at >= 0);
  if (problem) throw usage(problem);
  if (run !== undefined && !RUN_ID.test(run))
    throw usage(`--run "${oneLine(run)}" is not a run id (a UUID); see "rollback list"`);
  return { id, workflowId, runId: run ?? runFromId };
}

/** The message for an id that names no workflow on the server. */
export function unknownRollback(ref: RollbackRef): string {
  const hint = ref.workflowId.startsWith('rollback-')
    ? ''
    : ` (workflow ids look like rollback-${oneLine(ref.workflowId)})`;
  return `no rollback with id ${oneLine(ref.id)}; see "rollback list" for the ids${hint}`;
}

/** A new rollback's id: the target (or group-NAME), the request's time to the second, 4 hex digits. */
export function newRollbackId(target: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${target}-${stamp}-${randomBytes(2).toString('hex')}`;
}
