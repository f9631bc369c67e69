/** Where a command writes; tests pass collectors, the CLI the process streams. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** A non-zero outcome that is not an error (a status of a failed rollback, a drill that did not recover). */
  setExitCode(code: number): void;
}

export const processIo: CliIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  setExitCode: (code) => void (process.exitCode = code),
};

/** The command's answer on stdout: the human text, or with --json the data as JSON. */
export function emit(io: CliIo, json: boolean | undefined, human: string, data: unknown): void {
  io.stdout((json ? JSON.stringify(data, null, 2) : human) + '\n');
}

/** A line of live progress (stderr, so stdout stays the answer). */
export function progressLine(io: CliIo, line: string): void {
  io.stderr(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}
