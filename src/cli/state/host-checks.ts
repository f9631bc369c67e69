import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { HostCheck } from '../../targets/host-check';
import type { CliIo } from '../output';

/**
 * The last check of each target's host (by `rollback config check`, `rollback start` and
 * `rollback hosts --check`), kept on the machine that ran it, so `rollback hosts` can say when a
 * host was last seen ready without logging in again. One JSON file in the state folder:
 * ROLLBACK_STATE_DIR, else $XDG_STATE_HOME/rollback, else ~/.local/state/rollback.
 */

export function stateDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.ROLLBACK_STATE_DIR) return resolve(env.ROLLBACK_STATE_DIR);
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'rollback');
}

type Store = Record<string, Record<string, HostCheck>>;

function file(env?: Readonly<Record<string, string | undefined>>): string {
  return join(stateDir(env), 'host-checks.json');
}

function read(env?: Readonly<Record<string, string | undefined>>): Store {
  try {
    const parsed = JSON.parse(readFileSync(file(env), 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Store) : {};
  } catch {
    return {}; // none yet, or unreadable: the checks are only a record, never an input
  }
}

/** The last check of each target of a config file, by target name. */
export function lastHostChecks(
  configFile: string,
  env?: Readonly<Record<string, string | undefined>>,
): Record<string, HostCheck> {
  return read(env)[resolve(configFile)] ?? {};
}

/**
 * Records checks (written through a temporary file, so a crash never leaves half a file). A state
 * folder that cannot be written costs the record, not the command: the returned text says why.
 */
export function recordHostChecks(
  configFile: string,
  checks: HostCheck[],
  env?: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (checks.length === 0) return undefined;
  const store = read(env);
  const key = resolve(configFile);
  const mine = (store[key] ??= {});
  for (const check of checks) mine[check.target] = check;
  const path = file(env);
  try {
    mkdirSync(stateDir(env), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(store, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, path);
    return undefined;
  } catch (err) {
    return `could not record the host checks in ${path}: ${(err as Error).message}`;
  }
}

/** Says (on stderr) why the host checks could not be recorded, when they could not. */
export function noteUnrecorded(io: CliIo, note: string | undefined): void {
  if (note) io.stderr(`rollback: ${note}\n`);
}
