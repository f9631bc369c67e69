import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * Runs one of scripts/install-*.sh (which finds the component on the machine or unpacks it into
 * .tools) and reads the KEY=VALUE line it prints; the getter throws when a key is missing.
 */
export function installedTool(script: string): (key: string) => string {
  const line = execFileSync('bash', [join(ROOT, 'scripts', script)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return (key) => {
    const value = new RegExp(`${key}=(\\S*)`).exec(line)?.[1];
    if (value === undefined) throw new Error(`scripts/${script} printed no ${key}= (it printed: ${line})`);
    return value;
  };
}

/** Stops a server the rig started: `signal`, then SIGKILL if it is still there after 5 s. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}
