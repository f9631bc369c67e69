import { existsSync } from 'node:fs';
import { programProblem } from '../../preflight';
import type { EcsTarget } from './schema';

/** Read-only checks of what an ECS target names on the orchestrator host (complete rollbacks). */
export function ecsPreflight(name: string, target: EcsTarget): string[] {
  const problems: string[] = [];
  const { git, build } = target.deploy;
  for (const [field, p] of [
    ['deploy.git.path', git?.path],
    ['deploy.build.cwd', build?.cwd],
  ] as const) {
    if (p && !existsSync(p)) problems.push(`target "${name}": ${field} ${p} does not exist; fix the path`);
  }
  // The build runs in build.cwd, else in the git working copy.
  const problem = build && programProblem('deploy.build.command', build.command, build.cwd ?? git?.path);
  if (problem) problems.push(`target "${name}": ${problem}`);
  return problems;
}
