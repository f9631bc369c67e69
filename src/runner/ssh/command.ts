import { INHERITED_ENV_VARS, type RunOptions } from '../types';

/** Marks the first line of a remote command's output: the pid of the command on the host. */
export const PID_MARKER = '\u0001rollback-ssh-pid ';

/** One argv element as a single word for a POSIX shell: 'it'\''s' for it's. */
export function shellQuote(word: string): string {
  if (word.includes('\0')) throw new Error('an argument holds a NUL byte, which no command line can carry');
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * What goes to the host for one argv list: a fixed command line (a shell that reads its script from
 * stdin) and the script: it prints its pid, changes directory, exports the environment and execs
 * the program with every argument quoted. Only the script carries values.
 */
export function remoteCommand(argv: string[], options: Pick<RunOptions, 'cwd' | 'env' | 'replaceEnv'> = {}) {
  // With replaceEnv the command sees only `env`, plus the host's own HOME, PATH and USER.
  const command = options.replaceEnv
    ? 'exec env -i HOME="$HOME" PATH="$PATH" USER="$USER" /bin/sh -s'
    : 'exec /bin/sh -s';
  const lines = [`printf '%s%s\\n' ${shellQuote(PID_MARKER)} "$$"`];
  if (options.cwd) lines.push(`cd ${shellQuote(options.cwd)} || exit 126`);
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new Error(`not an environment variable name: ${JSON.stringify(name)}`);
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  lines.push(`exec ${argv.map(shellQuote).join(' ')} </dev/null`);
  return { command, script: lines.join('\n') + '\n' };
}

/**
 * The command line that starts a long-running program with its pipes free (an MCP server over
 * stdio): it prints its pid, changes directory and execs the program with only the host's HOME,
 * LOGNAME, PATH, SHELL, TERM and USER plus `env` (non-secret settings: they are on its command line).
 */
export function remoteSpawnCommand(argv: string[], options: { cwd?: string; env?: Record<string, string> }) {
  const inherited = INHERITED_ENV_VARS.map((name) => `\${${name}+"${name}=$${name}"}`);
  const assignments = Object.entries(options.env ?? {}).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new Error(`not an environment variable name: ${JSON.stringify(name)}`);
    return shellQuote(`${name}=${value}`);
  });
  const lines = [`printf '%s%s\\n' ${shellQuote(PID_MARKER)} "$$"`];
  if (options.cwd) lines.push(`cd ${shellQuote(options.cwd)} || exit 126`);
  lines.push(['exec env -i', ...inherited, ...assignments, ...argv.map(shellQuote)].join(' '));
  return `exec /bin/sh -c ${shellQuote(lines.join('\n'))}`;
}
