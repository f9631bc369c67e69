import { analysisActivities } from './analysis';
import { defaultDeps, type ActivityDeps } from './deps';
import { ecsActivities } from './ecs';
import { fileActivities } from './files';
import { gitActivities } from './git';
import { validateActivities } from './validate';
import { logActivities } from './logs';
import { notifyActivities } from './notify';
import { npmActivities } from './npm';
import { npmPackageActivities } from './npm-package';
import { npmPackageAnalysisActivities } from './npm-package-analysis';
import { blueGreenActivities } from './blue-green';
import { containerActivities } from './container';
import { planTargetRollback } from './planning';
import { appendRollbackLog, recordIncident } from './report';
import { revertActivities } from './revert';
import { serviceActivities } from './service';
import { guardRollbackRunning, startGuardRollback } from './guard';
import { signalActivities } from './signals';

export { defaultDeps, type ActivityDeps } from './deps';

/**
 * Every activity the worker registers, built once from its dependencies (as in Temporal's
 * samples). Workflows import the type only; plans name activities as keys of it.
 */
export function createActivities(deps: ActivityDeps = defaultDeps()) {
  return {
    recordIncident,
    appendRollbackLog,
    ...gitActivities(deps),
    ...analysisActivities(deps),
    ...npmActivities(deps),
    ...npmPackageActivities(deps),
    ...npmPackageAnalysisActivities(deps),
    ...blueGreenActivities(deps),
    ...containerActivities(deps),
    ...fileActivities(deps),
    ...serviceActivities(deps),
    ...validateActivities(deps),
    ...notifyActivities(deps),
    ...logActivities(deps),
    ...ecsActivities(deps),
    ...revertActivities(deps),
    ...guardActivities(deps),
  };
}

/**
 * What guards and groups run besides rollback steps: sampling signals (read-only), starting a
 * rollback the way the CLI does, and planning a group member's rollback on the worker.
 */
export function guardActivities(deps: ActivityDeps) {
  return { ...signalActivities(deps), startGuardRollback, guardRollbackRunning, planTargetRollback };
}

/** Activities that are not rollback steps (no StepResult): the guards' and groups'. */
export type GuardActivityName = keyof ReturnType<typeof guardActivities>;

export type Activities = ReturnType<typeof createActivities>;
export type ActivityName = keyof Activities;
