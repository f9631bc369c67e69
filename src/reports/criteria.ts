import type { ActivityName } from '../activities';
import type { StepProgress } from '../model';
import { isFinished, reportedSteps, roleOf, type ReportRecord } from './record';

/**
 * The runbook's success checklist, judged from the workflow's own record: which steps ran, and
 * how they ended. A check that has no step in the plan is "not configured", never a pass.
 */

export type CriterionState = 'pass' | 'fail' | 'not configured';

export type CriterionId =
  | 'service-started'
  | 'health-healthy'
  | 'all-tools-work'
  | 'both-transports'
  | 'latency-in-budget'
  | 'no-error-logs'
  | 'alerts-cleared';

export interface CriterionResult {
  id: CriterionId;
  label: string;
  state: CriterionState;
  /** Why: the steps' summaries on a pass, the first problem on a fail, what to configure otherwise. */
  detail: string;
  /** The record's step ids this criterion was judged from. */
  steps: string[];
}

const byActivity =
  (...activities: ActivityName[]) =>
  (s: StepProgress) =>
    (activities as string[]).includes(s.activity);

const byIdPrefix = (prefix: string) => (s: StepProgress) =>
  s.activity === 'checkMcp' &&
  (s.id === prefix || s.id.startsWith(`${prefix}@`) || s.id.startsWith(`${prefix}-`));

/** A step whose success means the service runs the rolled-back version (a start, a restart, a deployment). */
export const isServiceStart = (s: Pick<StepProgress, 'role' | 'activity'>) => roleOf(s) === 'start';

interface Definition {
  id: CriterionId;
  label: string;
  match: (s: StepProgress) => boolean;
  howToConfigure: string;
}

/**
 * Which steps prove what. Matching by activity covers every phase of a check (issue 3 repeats
 * them as `validate-health@short-term`, ...), so a later phase's failure fails the criterion.
 */
const DEFINITIONS: Definition[] = [
  {
    id: 'service-started',
    label: 'Service started',
    match: isServiceStart,
    howToConfigure: 'the plan has no start step',
  },
  {
    id: 'health-healthy',
    label: 'Health endpoint healthy',
    // ECS: the load balancer's view of the tasks is the health check.
    match: byActivity('checkHealth', 'checkTargetGroupHealth'),
    howToConfigure: 'add validate.health to the target',
  },
  {
    id: 'all-tools-work',
    label: 'All MCP tools work',
    match: byActivity('checkMcp'),
    howToConfigure: 'add validate.mcp (and validate.mcpStdio) with toolNames and probes',
  },
  {
    id: 'latency-in-budget',
    label: 'Latency within budget',
    match: byActivity('checkLatency'),
    howToConfigure: 'add validate.latency to the target',
  },
  {
    id: 'no-error-logs',
    label: 'No error logs in the window',
    match: byActivity('scanLogs'),
    howToConfigure: 'add validate.errorLog to the target',
  },
  {
    id: 'alerts-cleared',
    label: 'Alerts cleared',
    match: byActivity('checkCloudWatchAlarms'),
    howToConfigure: 'add the alarms to check to the target',
  },
];

function undone(record: ReportRecord, step: StepProgress): boolean {
  return record.undos.some((u) => u.stepId === step.id && u.state === 'succeeded');
}

/** One step's verdict: null when it passed, else the reason it did not. */
function stepProblem(record: ReportRecord, step: StepProgress): string | null {
  switch (step.state) {
    case 'succeeded':
      if (isServiceStart(step)) {
        if (undone(record, step))
          return `${step.title}: started, then stopped again when the rollback was undone`;
      }
      return null;
    case 'failed':
      return `${step.title}: ${step.lastError ?? 'failed'}`;
    case 'skipped':
      return `${step.title}: ${step.summary ?? 'skipped by an operator decision'}`;
    default:
      return isFinished(record)
        ? `${step.title}: never ran (the rollback ended ${record.status} before it)`
        : `${step.title}: not run yet`;
  }
}

function judge(
  record: ReportRecord,
  steps: StepProgress[],
): { state: Exclude<CriterionState, 'not configured'>; detail: string } {
  const problems = steps.map((s) => stepProblem(record, s)).filter((p): p is string => p !== null);
  if (problems.length) {
    return { state: 'fail', detail: problems.join('; ') };
  }
  return {
    state: 'pass',
    detail: steps.map((s) => s.summary ?? s.title).join('; '),
  };
}

export function evaluateSuccessCriteria(record: ReportRecord): CriterionResult[] {
  const steps = reportedSteps(record);
  const results: CriterionResult[] = DEFINITIONS.map((d) => {
    const matched = steps.filter(d.match);
    if (matched.length === 0) {
      return { id: d.id, label: d.label, state: 'not configured', detail: d.howToConfigure, steps: [] };
    }
    return { id: d.id, label: d.label, ...judge(record, matched), steps: matched.map((s) => s.id) };
  });

  // Both transports: the HTTP and the stdio checks each ran, and every run of each passed.
  const http = steps.filter(byIdPrefix('validate-mcp-http'));
  const stdio = steps.filter(byIdPrefix('validate-mcp-stdio'));
  let both: CriterionResult;
  const base = { id: 'both-transports' as const, label: 'MCP over both transports (HTTP and stdio)' };
  if (http.length === 0 && stdio.length === 0) {
    both = { ...base, state: 'not configured', detail: 'add validate.mcp and validate.mcpStdio', steps: [] };
  } else if (http.length === 0 || stdio.length === 0) {
    both = {
      ...base,
      state: 'not configured',
      detail: `only ${http.length ? 'HTTP' : 'stdio'} is checked; add validate.${http.length ? 'mcpStdio' : 'mcp'} to check both`,
      steps: [...http, ...stdio].map((s) => s.id),
    };
  } else {
    both = { ...base, ...judge(record, [...http, ...stdio]), steps: [...http, ...stdio].map((s) => s.id) };
  }
  results.splice(3, 0, both);
  return results;
}

export function summarizeCriteria(results: CriterionResult[]): string {
  const count = (s: CriterionState) => results.filter((r) => r.state === s).length;
  return `${count('pass')} pass, ${count('fail')} fail, ${count('not configured')} not configured`;
}

export const CRITERION_MARK: Record<CriterionState, string> = {
  pass: '✔ pass',
  fail: '✘ fail',
  'not configured': '– not configured',
};
