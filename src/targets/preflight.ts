import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/**
 * Host checks every kind's preflight shares. The runner spawns argv lists without a shell, in the
 * step's working directory: a bare name is looked up on PATH, a relative path resolves in that
 * directory. A program that is not there would only fail after the service was stopped.
 */

/** Why `file` cannot be run, with the fix; undefined when it can. */
function executableProblem(file: string): string | undefined {
  if (!existsSync(file)) return 'does not exist; install it there or fix the path';
  if (!statSync(file).isFile()) return 'is not a file; fix the path';
  try {
    accessSync(file, constants.X_OK);
    return undefined;
  } catch {
    return 'is not executable; make it executable (chmod +x) or fix the path';
  }
}

const isDirectory = (p: string | undefined): p is string =>
  p !== undefined && existsSync(p) && statSync(p).isDirectory();

/**
 * Why the program of `argv` (the config's `field`) cannot be started in `cwd`, with the fix;
 * undefined when it can, or when `cwd` is missing (that is reported on its own).
 */
export function programProblem(
  field: string,
  argv: readonly string[],
  cwd: string | undefined,
  path: string | undefined = process.env.PATH,
): string | undefined {
  const program = argv[0];
  if (!program) return undefined;
  if (isAbsolute(program)) {
    const problem = executableProblem(program);
    return problem && `${field}: program ${program} ${problem}`;
  }
  if (program.includes('/')) {
    if (!isDirectory(cwd)) return undefined;
    const problem = executableProblem(resolve(cwd, program));
    return problem && `${field}: program ${program}, run from ${cwd}, ${problem}`;
  }
  // Empty and relative PATH entries depend on the working directory: not counted.
  const dirs = (path ?? '').split(delimiter).filter((d) => isAbsolute(d));
  if (dirs.some((d) => executableProblem(join(d, program)) === undefined)) return undefined;
  const local = isDirectory(cwd) && existsSync(join(cwd, program));
  return (
    `${field}: program "${program}" is not on PATH; install it, or give its absolute path` +
    (local ? ` (to run the one in ${cwd}, write ./${program})` : '')
  );
}
