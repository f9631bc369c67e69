import { spawn } from 'node:child_process';
import type { RunOptions, RunResult, Runner } from './types';

const MAX_CAPTURE = 1024 * 1024;

/** Runs commands on this host: spawn with an argv list and no shell, so nothing is interpreted. */
export class LocalRunner implements Runner {
  run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    const [program, ...args] = argv;
    if (!program) return Promise.reject(new Error('LocalRunner.run needs a program to run'));
    return new Promise((resolvePromise, reject) => {
      const child = spawn(program, args, {
        cwd: options.cwd,
        env: options.replaceEnv ? { ...options.env } : { ...process.env, ...options.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        // Own process group, so a timeout or cancellation kills the whole tree (npm spawns children).
        detached: true,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        if (stdout.length < MAX_CAPTURE) stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        if (stderr.length < MAX_CAPTURE) stderr += d.toString();
      });
      const killTree = () => {
        if (child.pid) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      };
      let timedOut = false;
      const timer = options.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            killTree();
          }, options.timeoutMs)
        : undefined;
      const ticker = options.onTick ? setInterval(options.onTick, 2000) : undefined;
      const onAbort = () => killTree();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (child.pid && options.onSpawn) options.onSpawn(child.pid);

      const finish = () => {
        if (timer) clearTimeout(timer);
        if (ticker) clearInterval(ticker);
        options.signal?.removeEventListener('abort', onAbort);
      };
      child.on('error', (err) => {
        finish();
        reject(new Error(`cannot run ${program}: ${err.message}`));
      });
      child.on('close', (code, sig) => {
        finish();
        if (timedOut) stderr += `\n(killed after ${options.timeoutMs} ms timeout)`;
        resolvePromise({ exitCode: code ?? (sig ? 128 : 1), stdout, stderr });
      });
    });
  }
}

export const localRunner = new LocalRunner();
