import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { INHERITED_ENV_VARS, readToEnd, stopGently, type HostProcess, type SpawnOptions } from './types';

/**
 * Starts a program on this machine with pipes, in its own process group, with a minimal
 * environment plus `env`; rejects when it cannot start (no such program, no such folder).
 */
export function spawnLocal(argv: string[], options: SpawnOptions = {}): Promise<HostProcess> {
  const [program, ...args] = argv;
  if (!program) return Promise.reject(new Error('spawn needs a program to run'));
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV_VARS) {
    const value = process.env[name];
    if (value !== undefined && !value.startsWith('()')) env[name] = value;
  }
  const child = spawn(program, args, {
    cwd: options.cwd,
    env: { ...env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  // Its output is held here from the start: Node discards a child's unread output when it exits,
  // and a program that fails at once (no such file) can exit before the caller has attached readers.
  const stdout = child.stdout.pipe(new PassThrough());
  const stderr = child.stderr.pipe(new PassThrough());
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve())).then(() =>
    readToEnd(stdout, stderr),
  );
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start ${program}: ${err.message}`)));
    child.once('spawn', () =>
      resolve({
        stdin: child.stdin,
        stdout,
        stderr,
        exited,
        stop: () =>
          stopGently(child.stdin, exited, (signal) => {
            try {
              process.kill(-child.pid!, `SIG${signal}`);
            } catch {
              /* already gone */
            }
          }),
      }),
    );
  });
}
