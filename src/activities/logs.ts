import { isAbsolute, join } from 'node:path/posix';
import type { HostSpec } from '../model';
import { LOCAL_HOST } from '../runner/local-host';
import type { Host, HostFiles } from '../runner/types';
import { done, heartbeat, permanent, type StepResult } from './common';
import type { ActivityDeps } from './deps';
import { localPm2Home } from './pm2-rpc';
import { envFileSecrets, redact } from './redact';

/**
 * The error-log window: mark where each log file ends now, wait (a durable timer in the
 * workflow), then scan only what was written after the mark for error patterns.
 */

export interface LogSource {
  /** Files to watch: absolute, or relative to `cwd` (the deploy path). */
  files?: string[];
  /** pm2's own logs of this process: PM2_HOME/logs/NAME-out.log and NAME-error.log. */
  pm2?: { name: string; pm2Home?: string };
  cwd?: string;
}

/** pm2 names its log files after the process name with anything but letters, digits, `\`, `.` and `-` replaced. */
export function pm2LogFiles(name: string, pm2Home?: string): string[] {
  const home = localPm2Home(pm2Home);
  const base = name.replace(/[^a-zA-Z0-9\\.-]/g, '-');
  return [join(home, 'logs', `${base}-out.log`), join(home, 'logs', `${base}-error.log`)];
}

/** The log files a source names, on its host (pm2's default home is the host user's ~/.pm2). */
async function resolveLogFiles(source: LogSource, host: Host): Promise<string[]> {
  const files = (source.files ?? []).map((f) => (isAbsolute(f) || !source.cwd ? f : join(source.cwd, f)));
  if (source.pm2) {
    let pm2Home = source.pm2.pm2Home;
    if (!pm2Home && !host.local) {
      const home = (await host.runner.run(['printenv', 'HOME'], { timeoutMs: 10_000 })).stdout.trim();
      if (home.startsWith('/')) pm2Home = join(home, '.pm2');
    }
    files.push(...pm2LogFiles(source.pm2.name, pm2Home));
  }
  return [...new Set(files)];
}

export interface LogOffsets extends Record<string, unknown> {
  files: string[];
  /** Size of each file at the mark; 0 for a file that did not exist yet (all of it is new). */
  offsets: Record<string, number>;
  markedAt: string;
}

/** Records how long each log file is now: the start of the window. */
export async function markLogOffsets(
  input: LogSource,
  host: Host = LOCAL_HOST,
): Promise<StepResult<LogOffsets>> {
  const files = await resolveLogFiles(input, host);
  if (files.length === 0)
    throw permanent('the error-log window names no log files (give files, or pm2)', 'BadInput');
  const offsets: Record<string, number> = {};
  const absent: string[] = [];
  for (const file of files) {
    const st = await host.files.stat(file);
    offsets[file] = st?.size ?? 0;
    if (!st) absent.push(file);
  }
  return done(
    `window opens at ${files.map((f) => `${f}:${offsets[f]}`).join(', ')}${absent.length ? ` (not there yet: ${absent.length})` : ''}`,
    { files, offsets, markedAt: new Date().toISOString() },
  );
}

export interface LogMatch extends Record<string, unknown> {
  file: string;
  line: number;
  text: string;
  pattern: string;
}

export interface ScanLogsInput {
  files: string[];
  offsets: Record<string, number>;
  /** Regular expressions (JavaScript syntax); a line matching any of them is an error line. */
  patterns: string[];
  /** Default true: `error` also matches `ERROR`. */
  ignoreCase?: boolean;
  /** Env files (relative to cwd) whose values are masked in the reported lines; default ['.env']. */
  redactEnvFiles?: string[];
  cwd?: string;
  /** At most this many matches are reported (all are counted); default 20. */
  maxMatches?: number;
}

const MAX_LINE = 300;

const CHUNK = 1024 * 1024;

/** Counts newlines in the first `end` bytes, to give matches real line numbers. */
async function countLines(fs: HostFiles, file: string, end: number): Promise<number> {
  let n = 0;
  for (let at = 0; at < end; at += CHUNK) {
    const buf = await fs.readRange(file, at, Math.min(end, at + CHUNK));
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
    if (buf.length === 0) break;
  }
  return n;
}

/**
 * Scans what each file gained since its mark. A file now shorter than its mark was rotated or
 * truncated: all of it is new. Any match fails the step, naming file, line and text, and the
 * failure is non-retryable: the same window scanned again holds the same lines.
 */
export async function scanLogs(
  input: ScanLogsInput,
  host: Host = LOCAL_HOST,
): Promise<StepResult<{ scanned: { file: string; from: number; bytes: number }[]; matches: number }>> {
  if (!input.patterns?.length) throw permanent('the error-log scan needs at least one pattern', 'BadInput');
  let regexes: RegExp[];
  try {
    regexes = input.patterns.map((p) => new RegExp(p, input.ignoreCase === false ? '' : 'i'));
  } catch (err) {
    throw permanent(`invalid error-log pattern: ${(err as Error).message}`, 'BadInput');
  }
  const secrets = await envFileSecrets(
    (input.redactEnvFiles ?? ['.env']).map((f) => (isAbsolute(f) || !input.cwd ? f : join(input.cwd, f))),
    host.files,
  );
  const matches: LogMatch[] = [];
  const scanned: { file: string; from: number; bytes: number }[] = [];
  let total = 0;
  for (const file of input.files) {
    heartbeat(file);
    const size = (await host.files.stat(file))?.size;
    if (size === undefined) continue; // never written: nothing in the window
    const mark = input.offsets[file] ?? 0;
    const from = size < mark ? 0 : mark;
    const text = (await host.files.readRange(file, from, size)).toString('utf8');
    scanned.push({ file, from, bytes: size - from });
    if (!text) continue;
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    let firstLine: number | undefined;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.replace(/\r$/, '');
      const hit = regexes.find((r) => r.test(line));
      if (!hit) continue;
      total++;
      if (matches.length >= (input.maxMatches ?? 20)) continue;
      firstLine ??= (await countLines(host.files, file, from)) + 1;
      const clean = redact(line, secrets);
      matches.push({
        file,
        line: firstLine + i,
        text: clean.length > MAX_LINE ? `${clean.slice(0, MAX_LINE)}…` : clean,
        pattern: hit.source,
      });
    }
  }
  const bytes = scanned.reduce((a, s) => a + s.bytes, 0);
  if (total > 0) {
    const shown = matches.map((m) => `  ${m.file}:${m.line}: ${m.text}`).join('\n');
    throw permanent(
      `${total} error line${total > 1 ? 's' : ''} in the error-log window (${input.patterns.join(' | ')}):\n${shown}${
        total > matches.length ? `\n  … and ${total - matches.length} more` : ''
      }`,
      'ErrorLogMatches',
      { matches, total },
    );
  }
  return done(
    `no error lines in the window: ${bytes} new bytes in ${scanned.length} of ${input.files.length} log files`,
    { scanned, matches: 0 },
  );
}

/** The error-log window, on the target's host. */
export function logActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    markLogOffsets: (input: LogSource, on?: HostSpec) =>
      deps.onHost(on, (host) => markLogOffsets(input, host)),
    scanLogs: (input: ScanLogsInput, on?: HostSpec) => deps.onHost(on, (host) => scanLogs(input, host)),
  };
}
