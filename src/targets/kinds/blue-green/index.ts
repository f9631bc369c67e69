import type { TargetKind } from '../kind';
import { blueGreenHostProbes, blueGreenPreflight } from './preflight';
import { blueGreenPlanners } from './plan';
import { blueGreenTargetSchema, type BlueGreenTarget } from './schema';

export { blueGreenTargetSchema, type BlueGreenTarget } from './schema';

/** `deploy.type: blue-green`: two colours behind an nginx upstream or a balancer's commands. */
export const blueGreenKind: TargetKind<BlueGreenTarget> = {
  schema: blueGreenTargetSchema,
  plan: blueGreenPlanners,
  preflight: blueGreenPreflight,
  hostProbes: blueGreenHostProbes,
};
