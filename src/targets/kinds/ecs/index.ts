import type { TargetKind } from '../kind';
import { ecsPlanners } from './plan';
import { ecsPreflight } from './preflight';
import { ecsTargetSchema, type EcsTarget } from './schema';

export { ecsDeploySchema, ecsTargetSchema, type EcsDeploy, type EcsTarget } from './schema';

/** `deploy.type: ecs`: a service on AWS ECS, rolled back by task-definition revision. */
export const ecsKind: TargetKind<EcsTarget> = {
  schema: ecsTargetSchema,
  plan: ecsPlanners,
  preflight: ecsPreflight,
};
