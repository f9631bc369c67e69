import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The text of every file under `dir` (none when it does not exist): where a canary must not be. */
export function readTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? readTree(p) : [readFileSync(p, 'utf8')];
  });
}
