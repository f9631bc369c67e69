import type { BaseTarget, TargetKind } from '../kind';
import { gitPlanners } from './plan';
import { gitHostProbes, gitPreflight } from './preflight';
import { gitTargetSchema, type GitTarget } from './schema';

export { serviceChecks } from './plan';
export { gitTargetSchema, serviceSchema, type GitTarget, type ServiceConfig } from './schema';

/** `deploy.type: git`: a working copy on a host, built there, run by pm2 or commands. */
export const gitKind: TargetKind<GitTarget> = {
  schema: gitTargetSchema,
  plan: gitPlanners,
  preflight: gitPreflight,
  hostProbes: gitHostProbes,
};

/** Whether a target is git-deployed (for commands that only git targets support, like drills). */
export function isGitTarget(target: BaseTarget): target is GitTarget & BaseTarget {
  return target.deploy.type === 'git';
}
