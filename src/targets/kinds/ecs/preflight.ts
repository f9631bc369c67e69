import { existsSync } from 'node:fs';
import type { EcsTarget } from './schema';

/** Read-only checks of what an ECS target names on the orchestrator host (complete rollbacks). */
export function ecsPreflight(name: string, target: EcsTarget): string[] {
  const problems: string[] = [];
  for (const [field, p] of [
    ['deploy.git.path', target.deploy.git?.path],
    ['deploy.build.cwd', target.deploy.build?.cwd],
  ] as const) {
    if (p && !existsSync(p)) problems.push(`target "${name}": ${field} ${p} does not exist; fix the path`);
  }
  return problems;
}
