import type { RollbackClient } from '../client';
import type { RollbackRecord } from '../model';
import { oneLine } from '../model/text';
import { CliExit, EXIT } from './errors';
import { progressLine, type CliIo } from './output';
import { formatRecord, ProgressPrinter } from './progress';
import { readRollback } from './state/read';

export interface Outcome {
  ok: boolean;
  record: RollbackRecord | null;
  error?: string;
}

const POLL_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Prints each change of a rollback on stderr until it ends, and returns how it ended. While no
 * worker answers, the progress comes from the workflow's history, and a line says so (once).
 */
export async function followRollback(
  client: RollbackClient,
  workflowId: string,
  runId: string,
  opts: { json: boolean; io: CliIo },
): Promise<Outcome> {
  const say = (line: string) => progressLine(opts.io, line);
  const printer = new ProgressPrinter(say);
  const done = client.result(workflowId, runId);
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  let lastNote: string | undefined;
  while (!finished) {
    if (!opts.json) {
      try {
        const view = await readRollback(client, await client.describe(workflowId, runId));
        if (view.note !== lastNote && (view.note || lastNote)) say(view.note ?? 'a worker answers again');
        lastNote = view.note;
        printer.update(view.record);
      } catch {
        /* read again at the next tick; the outcome comes from `done` */
      }
    }
    await Promise.race([sleep(POLL_MS), done]);
  }
  const result = await done;
  if (!opts.json && result.record) printer.update(result.record);
  return result;
}

/** Prints how a followed rollback ended; exits 1 (after printing) unless `succeeded(result)`. */
export function printOutcome(
  io: CliIo,
  result: Outcome,
  json: boolean,
  extra: object,
  succeeded: (r: Outcome) => boolean = (r) => r.ok,
): void {
  const ok = succeeded(result);
  if (json) {
    const body = { ...extra, ok: result.ok, error: result.error, record: result.record };
    io.stdout(JSON.stringify(ok ? body : { ...body, exitCode: EXIT.failed }, null, 2) + '\n');
  } else {
    if (result.record) io.stdout(formatRecord(result.record) + '\n');
    io.stdout(result.ok ? 'Rollback succeeded.\n' : `Rollback FAILED: ${oneLine(result.error ?? '')}\n`);
  }
  if (!ok) throw new CliExit(EXIT.failed, '');
}
