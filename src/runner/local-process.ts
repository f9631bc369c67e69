import { spawn } from 'node:child_process';
import { INHERITED_ENV_VARS, stopGently, type HostProcess, type SpawnOptions } from './types';

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
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start ${program}: ${err.message}`)));
    child.once('spawn', () =>
      resolve({
        stdin: child.stdin,
        stdout: child.stdout,
        stderr: child.stderr,
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
