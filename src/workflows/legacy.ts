import { ref, ROLLBACK_REF, type Plan, type PlanStep, type RetryClass } from '../model';

/**
 * Plans made before plan format 2 named no step roles and no undo retry classes. A rollback
 * started with such a plan may still be waiting (for an approval, a validation phase), so the
 * workflow reads them the old way. Remove once no rollback of that code can be in flight (the
 * replay suite's v1 histories go with it).
 */

const UNDO_CLASS: Record<string, RetryClass> = {
  runInstall: 'install',
  runBuild: 'install',
  startService: 'service',
  stopService: 'service',
  restartService: 'service',
  updateEcsService: 'service',
};

export function legacyUndoRetry(activity: string): RetryClass {
  return Object.hasOwn(UNDO_CLASS, activity) ? UNDO_CLASS[activity]! : 'quick';
}

/** The old plans' convention: `inspect` reports the from-version, `resolve`/`register` the to-version. */
export function legacyReportsVersion(step: Pick<PlanStep, 'id'>): 'from' | 'to' | undefined {
  if (step.id === 'inspect') return 'from';
  if (step.id === 'resolve' || step.id === 'register') return 'to';
  return undefined;
}

/** Plans before format 3 named no final steps: the workflow wrote the rollback-log entry itself. */
export function finalStepsOf(plan: Plan): PlanStep[] {
  return (
    plan.finalSteps ?? [
      {
        id: 'rollback-log',
        title: 'Write the rollback-log entry',
        role: 'record',
        activity: 'appendRollbackLog',
        retry: 'record',
        input: { reportsDir: plan.reportsDir, record: ref(`${ROLLBACK_REF}.record`) },
        undo: [],
      },
    ]
  );
}
