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
