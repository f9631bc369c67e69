import type { RollbackClient } from '../client';
import type { RollbackRecord } from '../model';
import { oneLine } from '../model/text';
import { CliExit, EXIT } from './errors';
import { progressLine, type CliIo } from './output';
import { formatRecord, ProgressPrinter } from './progress';
import { QUERY_DEADLINE_MS, readRollback } from './state/read';

export interface Outcome {
  ok: boolean;
  record: RollbackRecord | null;
  error?: string;
}

/** What no history event marks (a worker that went away or came back) is looked at this often. */
const REFRESH_MS = 10_000;
/** After a failed long poll (the server restarting), before the next. */
const RETRY_MS = 500;

/** Waits for `p`, or `ms` at most. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Prints each change of a rollback on stderr until it ends, and returns how it ended. The rollback
 * is read when its history grows (the server's long poll answers as an event is written: a step
 * scheduled or done, an approval, a decision), so a change shows at once and nothing is read while
 * nothing happens. While no worker answers, the progress comes from the history, and a line says so.
 */
export async function followRollback(
  client: RollbackClient,
  workflowId: string,
  runId: string,
  opts: { json: boolean; io: CliIo },
): Promise<Outcome> {
  const done = client.result(workflowId, runId);
  if (opts.json) return done;
  const say = (line: string) => progressLine(opts.io, line);
  const printer = new ProgressPrinter(say);
  /** Resolves once the rollback has ended, however it ended. */
  const over = done.then(
    () => undefined,
    () => undefined,
  );
  const ended = new AbortController();
  void over.then(() => ended.abort());
  let lastNote: string | undefined;
  let answered = false;
  /** Reads the rollback: its workflow's answer while a worker gives one, else the full view. */
  const read = async () => {
    const record = answered
      ? await client.progress(workflowId, runId, QUERY_DEADLINE_MS).catch(() => undefined)
      : undefined;
    if (record) {
      if (lastNote) say('a worker answers again');
      lastNote = undefined;
      return printer.update(record);
    }
    const view = await readRollback(client, await client.describe(workflowId, runId));
    if (view.note !== lastNote && (view.note || lastNote)) say(view.note ?? 'a worker answers again');
    lastNote = view.note;
    answered = view.source === 'workflow';
    printer.update(view.record);
  };
  let token: Uint8Array | undefined;
  let change: Promise<unknown> | undefined;
  while (!ended.signal.aborted) {
    try {
      await read();
    } catch {
      /* read again at the next change; the outcome comes from `done` */
    }
    // One long poll at a time: one that outlives a refresh is waited on again, not doubled.
    change ??= client.historyChange(workflowId, runId, token, ended.signal).then(
      async (r) => {
        // Ended: what is left to read comes with the result.
        if (r.closed) await over;
        token = r.token;
        change = undefined;
      },
      () => {
        change = undefined;
        return within(over, RETRY_MS);
      },
    );
    await within(change, REFRESH_MS);
  }
  const result = await done;
  if (result.record) printer.update(result.record);
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
