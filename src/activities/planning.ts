import type { Plan, RollbackRequest } from '../model';
import type { BaseTarget } from '../targets/kinds';
import { planRollback, type PlanDefaults } from '../targets/plan';

/**
 * Plans a target's rollback on the worker, from the target's config as the group's input carries
 * it: a group that compensates learns only at run time which version each target goes back to.
 * Pure (planRollback), so a retry plans the same.
 */
export async function planTargetRollback(input: {
  config: unknown;
  request: RollbackRequest;
  defaults: PlanDefaults;
}): Promise<Plan> {
  return planRollback(input.config as BaseTarget, input.request, input.defaults);
}
