import type { ActivityDeps } from '../deps';
import { ecsAnalysisActivities } from './analysis';
import { ecsBuildActivities } from './build';
import { ecsHealthActivities } from './health';
import { ecsRevisionActivities } from './revisions';
import { ecsServiceActivities } from './service';

export type { AwsSettings } from './aws';

/** The activities of ECS targets, with their AWS clients from the worker's dependencies. Each looks before it acts. */
export function ecsActivities(deps: Pick<ActivityDeps, 'aws' | 'onHost'>) {
  return {
    ...ecsServiceActivities(deps),
    ...ecsRevisionActivities(deps),
    ...ecsHealthActivities(deps),
    ...ecsBuildActivities(deps),
    ...ecsAnalysisActivities(deps),
  };
}
