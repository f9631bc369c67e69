import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GitTarget } from './schema';

/** Read-only checks of what a git target names on this host, run before anything is started. */
export function gitPreflight(name: string, target: GitTarget): string[] {
  const problems: string[] = [];
  const path = target.deploy.path;
  if (!existsSync(path)) {
    problems.push(
      `target "${name}": deploy.path ${path} does not exist; deploy the service there or fix the path`,
    );
  } else if (!statSync(path).isDirectory()) {
    problems.push(`target "${name}": deploy.path ${path} is not a directory`);
  } else if (!existsSync(resolve(path, '.git'))) {
    problems.push(
      `target "${name}": deploy.path ${path} is not a git working copy (no .git); deploy.type git needs one`,
    );
  }
  return problems;
}
