import { finished } from 'node:stream/promises';

export interface RunOptions {
  cwd?: string;
  /** Added to the runner's environment; never logged. */
  env?: Record<string, string>;
  /** Use `env` alone instead of adding it to the runner's environment. */
  replaceEnv?: boolean;
  timeoutMs?: number;
  /** Called every few seconds while the command runs (activities heartbeat from here). */
  onTick?: () => void;
  /** Called once the child has a pid, so an activity can record it and find it after a crash. */
  onSpawn?: (pid: number) => void;
  /** Aborting kills the command (activity cancellation). */
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Where a command runs. Commands are argv lists, never shell strings. */
export interface Runner {
  run(argv: string[], options?: RunOptions): Promise<RunResult>;
}

/** The last lines of a command's output, for error messages that stay readable. */
export function tail(text: string, lines = 15): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/** What a step needs of a host's files: the same calls on this host and, over SFTP, on another. */
export interface HostFiles {
  read(path: string): Promise<Buffer>;
  /** Bytes [start, end) of a file (a log's new part), without reading the rest. */
  readRange(path: string, start: number, end: number): Promise<Buffer>;
  /** Size and permission bits; undefined when nothing is there. */
  stat(path: string): Promise<{ size: number; mode: number } | undefined>;
  /**
   * Writes through a temporary file beside `path` and renames it over, so a crash never leaves a
   * half-written file; the file gets `mode`. Checks the written bytes' sha256 on the host.
   */
  writeAtomic(path: string, data: Buffer | string, mode: number): Promise<void>;
  /** Creates a folder and its parents; new folders get `mode`. */
  mkdir(path: string, mode: number): Promise<void>;
  /** The hex sha256 of a file, computed on the host. */
  sha256(path: string): Promise<string>;
  remove(path: string): Promise<void>;
}

/** A long-running program on a host, with its pipes (an MCP server spoken to over stdio). */
export interface HostProcess {
  stdin: NodeJS.WritableStream;
  stdout: NodeJS.ReadableStream;
  stderr: NodeJS.ReadableStream;
  /** Resolves once the program has exited and its output has been read to the end. */
  exited: Promise<void>;
  /** Ends its stdin, then ends its process group if it has not exited after a grace period. */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  cwd?: string;
  /** Added to a minimal environment (HOME, LOGNAME, PATH, SHELL, USER): nothing else leaks in. */
  env?: Record<string, string>;
}

/**
 * A target's host as one activity attempt sees it: its commands and its files. On the worker's own
 * machine, or over one SSH connection opened for the attempt and closed after it.
 */
export interface Host {
  runner: Runner;
  files: HostFiles;
  /** The worker's own machine (its environment, home folder and bundled pm2 apply). */
  local: boolean;
  /** For messages: `local`, or `user@host:port`. */
  label: string;
  /** HTTP as the host sees it: `localhost` is the host itself (over SSH, a tunnelled connection). */
  fetch: typeof fetch;
  /** Starts a program with pipes; rejects when it cannot start. */
  spawn(argv: string[], options?: SpawnOptions): Promise<HostProcess>;
}

/** What a spawned program inherits from its host's environment (as the MCP SDK's stdio client does). */
export const INHERITED_ENV_VARS = ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER'] as const;

/** Resolves once each stream has been read to its end (or has failed): a program's output, all of it. */
export async function readToEnd(...streams: NodeJS.ReadableStream[]): Promise<void> {
  await Promise.all(streams.map((s) => finished(s, { writable: false }).catch(() => undefined)));
}

/** Ends a process: stdin closed, then `kill(signal)` after each grace period until it has exited. */
export async function stopGently(
  stdin: NodeJS.WritableStream,
  exited: Promise<void>,
  kill: (signal: 'TERM' | 'KILL') => void | Promise<void>,
  graceMs = 2000,
): Promise<void> {
  const within = (ms: number) =>
    Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
    ]);
  stdin.end();
  if (await within(graceMs)) return;
  await kill('TERM');
  if (await within(graceMs)) return;
  await kill('KILL');
  await within(graceMs);
}
