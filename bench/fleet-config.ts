import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { commandTarget } from '../test/rig/configs';

/**
 * A rollback.yaml of `n` command targets (`fleet-0`..), each an empty git working copy of its own
 * (the fake steps never touch it), and the given groups over them (`targets` as a count: the first
 * N). For the fleet benches.
 */
export function writeFleetConfig(
  root: string,
  n: number,
  groups: Record<string, Record<string, unknown> & { targets: number }>,
): string {
  const targets: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const name = `fleet-${i}`;
    const path = join(root, name, 'srv');
    mkdirSync(path, { recursive: true });
    execFileSync('git', ['init', '-q', path]);
    targets[name] = commandTarget(name, path, join(root, name));
  }
  const names = Object.keys(targets);
  const file = join(root, 'rollback.yaml');
  writeFileSync(
    file,
    stringify({
      version: 1,
      targets,
      groups: Object.fromEntries(
        Object.entries(groups).map(([g, { targets: count, ...rest }]) => [
          g,
          { targets: names.slice(0, count), ...rest },
        ]),
      ),
    }),
  );
  return file;
}
