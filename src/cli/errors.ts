import { ConfigError } from '../targets/errors';
import type { CliIo } from './output';

/** Exit codes: 0 success, 1 the rollback (or the server) failed, 2 the input was wrong and nothing was done. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Ends a command with this exit code; an empty message means the outcome is already printed. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'CliExit';
  }
}

/** A mistake in what the user typed: exit 2, nothing done. */
export function usage(message: string): CliExit {
  return new CliExit(EXIT.usage, message);
}

/** A `--port` value as a number, or a usage error naming it; `max` leaves room for ports derived from it. */
export function portOption(value: string, max = 65535): number {
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > max)
    throw usage(`--port ${JSON.stringify(value)} is not a port number from 0 to ${max}`);
  return port;
}

// Errors from modules the CLI loads only when a command needs them (the Temporal client, the
// rollback client), known by name so that printing --help loads none of those modules.
const USER_MISTAKES = new Set([
  'RollbackAlreadyRunningError', // one rollback per target
  'RefusedError', // the workflow refused an approval, rejection or decision
  'RollbackRefusedError', // a read-only check of the request failed; nothing was written
  'WorkflowNotFoundError', // an unknown id
  'NamespaceNotFoundError', // an unknown --namespace
  'GuardNotRunningError', // guard status/pause/stop of a target without one
  'GuardAlreadyRunningError', // one guard per target
]);

function commanderCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('commander.') ? code : undefined;
}

/** The one place that decides the exit code of an error. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliExit) return err.code;
  const commander = commanderCode(err);
  // Commander says 0 when it printed what was asked for (help); anything else is a parse error.
  if (commander) return (err as { exitCode?: number }).exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (
    err instanceof ConfigError ||
    USER_MISTAKES.has((err as Error | null)?.name ?? '') ||
    encryptedWithoutKeys(err)
  )
    return EXIT.usage;
  return EXIT.failed;
}

/** A payload written by a worker with encryption keys, read by a process without them. */
function encryptedWithoutKeys(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (/Unknown encoding: binary\/encrypted/.test(e instanceof Error ? e.message : String(e))) return true;
  }
  return false;
}

function messageOf(err: unknown): string {
  if (encryptedWithoutKeys(err)) {
    return (
      "the rollback's data is encrypted (payloads binary/encrypted) and this process has no keys: " +
      'set ROLLBACK_CODEC_KEYS or ROLLBACK_CODEC_KEY_FILE as the worker has them'
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  if (commanderCode(err) === 'commander.help') return 'no command given; see "rollback --help"';
  // Commander's messages start with "error: " (it prints them so); say it once.
  return message.replace(/^error: /, '');
}

/**
 * Prints an error and returns its exit code. Commander has already printed its own parse errors on
 * stderr; with --json every error is also one JSON object on stdout, and nothing else is.
 */
export function reportError(err: unknown, json: boolean, io: CliIo): number {
  const code = exitCodeOf(err);
  if (code === EXIT.ok) return code;
  const message = messageOf(err);
  const printedByCommander = commanderCode(err) !== undefined && commanderCode(err) !== 'commander.help';
  if (message && !printedByCommander) io.stderr(`error: ${message}\n`);
  if (json && message) io.stdout(JSON.stringify({ ok: false, error: message, exitCode: code }) + '\n');
  return code;
}
