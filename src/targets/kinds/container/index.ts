import type { TargetKind } from '../kind';
import { containerPlanners } from './plan';
import { containerPreflight } from './preflight';
import { containerTargetSchema, type ContainerTarget } from './schema';

export { containerTargetSchema, type ContainerTarget } from './schema';

/** `deploy.type: container`: a container on a host's engine (Docker, or podman's Docker API). */
export const containerKind: TargetKind<ContainerTarget> = {
  schema: containerTargetSchema,
  plan: containerPlanners,
  preflight: containerPreflight,
};
