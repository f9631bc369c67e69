import {
  ActivityCancellationType,
  ActivityFailure,
  ChildWorkflowFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  sleep,
  type ActivityOptions,
} from '@temporalio/workflow';
import {
  STEP_MARK,
  WAIT_ACTIVITY,
  hostLabel,
  hostQueue,
  resolveRefs,
  type HostSpec,
  type ActivityCall,
  type PlanStep,
  type RetryClass,
  type RollbackRecord,
  type StepProgress,
  type StepResult,
} from '../model';
import { legacyUndoRetry } from './legacy';

const WAIT = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };

/**
 * Timeouts and retries per step class. Deterministic constants: part of the workflow's code. Every
 * activity heartbeats each second while it runs (the worker's keep-alive), so a short heartbeat
 * timeout finds a dead worker in seconds and the step re-runs on another; the start-to-close
 * timeout only bounds a step that hangs while its worker lives. On cancellation the workflow waits
 * for the running activity to stop, so undos never race the step they undo.
 */
const HEARTBEAT = { ...WAIT, heartbeatTimeout: '6s' } as const;
export const RETRY_CLASSES: Record<RetryClass, ActivityOptions> = {
  record: { ...HEARTBEAT, startToCloseTimeout: '1m', retry: { initialInterval: '1s', maximumAttempts: 5 } },
  quick: {
    ...HEARTBEAT,
    startToCloseTimeout: '2m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 },
  },
  service: {
    ...HEARTBEAT,
    startToCloseTimeout: '3m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 },
  },
  install: {
    ...HEARTBEAT,
    startToCloseTimeout: '20m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 },
  },
  validate: {
    ...HEARTBEAT,
    startToCloseTimeout: '5m',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumAttempts: 3 },
  },
};

/** A timer step: the workflow waits `seconds` on a durable timer; a worker restart loses nothing. */
async function durableWait(title: string, input: { seconds: number }): Promise<StepResult> {
  const seconds = Number(input.seconds);
  if (!Number.isFinite(seconds) || seconds < 0)
    throw ApplicationFailure.nonRetryable(`wait step needs seconds >= 0`, 'PlanError');
  await sleep(seconds * 1000, { summary: title });
  return { summary: `waited ${seconds} s`, attempt: 1, data: { seconds } };
}

type AnyActivity = (input: unknown, on?: HostSpec) => Promise<StepResult>;

/**
 * Schedules one activity. A host with its own worker gets the call on that host's task queue (it
 * waits there while no worker polls it); an SSH host travels as the activity's second argument, so
 * the orchestrator's worker opens the connection.
 */
function call(
  activity: string,
  retry: RetryClass,
  summary: string,
  input: unknown,
  on?: HostSpec,
): Promise<StepResult> {
  const queue = on && 'worker' in on ? { taskQueue: hostQueue(on.worker) } : {};
  const acts = proxyActivities<Record<string, AnyActivity>>({ ...RETRY_CLASSES[retry], summary, ...queue });
  return on && 'ssh' in on ? acts[activity]!(input, on) : acts[activity]!(input);
}

function applicationFailure(err: unknown): ApplicationFailure | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

/** The attempt number our activity interceptor attaches to every failure, if present. */
function failedAttempts(err: unknown): number | undefined {
  for (const d of applicationFailure(err)?.details ?? []) {
    if (d && typeof d === 'object' && typeof (d as { attempt?: unknown }).attempt === 'number') {
      return (d as { attempt: number }).attempt;
    }
  }
  return undefined;
}

/** The failure type (FAILURES) of an activity's failure, when it has one. */
export function failureType(err: unknown): string | undefined {
  return applicationFailure(err)?.type ?? undefined;
}

export function describeError(err: unknown): string {
  // An activity's or a child rollback's own message, not the wrapper's ("Child Workflow execution failed").
  if ((err instanceof ActivityFailure || err instanceof ChildWorkflowFailure) && err.cause)
    return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** The Web UI's "current details" of a rollback: its steps as a checklist. */
function renderDetails(record: RollbackRecord): string {
  return [
    `**${record.kind} rollback of ${record.target} → ${record.toVersion}: ${record.status}**`,
    '',
    ...record.steps.map(
      (s) =>
        `${STEP_MARK[s.state]} ${s.title}${s.attempts > 1 ? ` (${s.attempts} attempts)` : ''}${s.summary ? ` — ${s.summary}` : ''}${s.lastError && s.state === 'failed' ? ` — ${s.lastError}` : ''}${
          s.state === 'running' && s.worker
            ? ` — on the worker of ${s.worker} (waiting for the worker on ${s.worker} while none polls ${hostQueue(s.worker)})`
            : ''
        }`,
    ),
  ].join('\n');
}

/** A step that failed for good: where it is in the steps, and why. */
export interface StepFailure {
  index: number;
  err: unknown;
}

/**
 * Where the steps that run together from `i` end (exclusive). A service's start guards against a
 * release that dies at once by watching it stay up for its grace period (`startGraceSeconds`).
 * That watch runs beside the validation that follows instead of before it: the first check is a
 * health check, which waits until the service answers, and the rollback goes past the validation
 * only once the start's watch held too. The watch ends early once the service answered that
 * health check with no restart (`healthBeside`; a crash before then still fails the start). A
 * restart is never overlapped: until it happens, the old process would answer the health check.
 */
export function besideStart(steps: PlanStep[], i: number): number {
  const step = steps[i]!;
  if (step.role !== 'start' || step.activity !== 'startService' || steps[i + 1]?.activity !== 'checkHealth')
    return i + 1;
  let end = i + 1;
  while (end < steps.length && steps[end]!.role === 'validate' && steps[end]!.activity !== WAIT_ACTIVITY)
    end++;
  return end;
}

/**
 * Where the steps that run together from `i` end (exclusive), for a record step: the incident log
 * is written beside the backup after it. Neither changes the service, and the step after them (the
 * stop) waits for both, so the incident is still on record before anything changes.
 */
export function besideRecord(steps: PlanStep[], i: number): number {
  return steps[i]!.role === 'record' && steps[i + 1]?.role === 'backup' ? i + 2 : i + 1;
}

interface RegisteredUndo {
  stepId: string;
  calls: { activity: string; retry: RetryClass; input: unknown; on?: HostSpec }[];
}

/**
 * Runs a plan's steps in order (the saga). A step's undo is registered when the step starts, not
 * when it ends: a step that failed half way may have changed the world, and every undo is
 * idempotent. On a step that fails for good, the registered undos run in reverse order.
 */
export class StepRunner {
  readonly results = new Map<string, StepResult>();
  private readonly undos: RegisteredUndo[] = [];
  /**
   * The steps running now, oldest first (a start and the checks beside it run together): the
   * record's current step is the oldest, the one the rollback waits on.
   */
  private readonly running: string[] = [];

  constructor(
    readonly record: RollbackRecord,
    private readonly onResult: (step: PlanStep, result: StepResult) => void = () => undefined,
  ) {}

  publish(): void {
    setCurrentDetails(renderDetails(this.record));
  }

  private progress(id: string): StepProgress {
    return this.record.steps.find((s) => s.id === id)!;
  }

  /** `extra`: fields the workflow adds to the step's input (the health check beside a start). */
  async runStep(step: PlanStep, extra?: Record<string, unknown>): Promise<void> {
    // A cancelled rollback starts no further step, and registers no undo for one it never ran
    // (an activity that finished despite the cancellation returns normally to the loop).
    if (CancellationScope.current().consideredCancelled) {
      throw new CancelledFailure(`cancelled before step ${step.id}`);
    }
    const p = this.progress(step.id);
    const startedMs = Date.now();
    p.state = 'running';
    p.startedAt = new Date(startedMs).toISOString();
    this.running.push(step.id);
    this.record.currentStep = this.running[0];
    this.publish();
    try {
      // Once per step: a retried step (an operator's "retry") must not be undone twice.
      if (step.undo.length > 0 && !this.undos.some((u) => u.stepId === step.id)) {
        this.undos.push({
          stepId: step.id,
          calls: (step.undo as ActivityCall[]).map((u) => ({
            activity: u.activity,
            retry: u.retry ?? legacyUndoRetry(u.activity),
            input: resolveRefs(u.input, this.results),
            ...(u.on ? { on: u.on } : {}),
          })),
        });
      }
      const resolved = resolveRefs(step.input, this.results);
      const input = extra ? { ...(resolved as object), ...extra } : resolved;
      const result =
        step.activity === WAIT_ACTIVITY
          ? await durableWait(step.title, input as { seconds: number })
          : await call(step.activity, step.retry, step.title, input, step.on);
      this.results.set(step.id, result);
      p.state = 'succeeded';
      p.attempts = result.attempt;
      p.summary = result.summary;
      this.onResult(step, result);
    } catch (err) {
      p.state = 'failed';
      p.attempts = failedAttempts(err) ?? p.attempts + 1;
      p.lastError = describeError(err) || (isCancellation(err) ? 'cancelled while it ran' : 'failed');
      p.errorType = failureType(err);
      throw err;
    } finally {
      p.finishedAt = new Date().toISOString();
      p.durationMs = Date.now() - startedMs;
      this.running.splice(this.running.indexOf(step.id), 1);
      this.record.currentStep = this.running[0];
      this.publish();
    }
  }

  /** A step stopped before it could finish (a check beside a start that failed): as if it never ran. */
  markNotRun(id: string): void {
    const p = this.progress(id);
    p.state = 'pending';
    p.attempts = 0;
    for (const k of ['startedAt', 'finishedAt', 'durationMs', 'summary', 'lastError', 'errorType'] as const)
      delete p[k];
    this.publish();
  }

  /**
   * Runs `steps[i]`, or a start with the checks that run beside it (`besideStart`, when `beside`).
   * Resolves to the index after what ran, or to the step that failed for good: the start when it
   * failed (it is the cause), else the first check that failed. A check still running when the
   * start fails is stopped and counts as not run. An operator's cancellation is thrown.
   */
  async runFrom(
    steps: PlanStep[],
    i: number,
    beside: boolean,
    recordBeside = false,
  ): Promise<{ next: number } | StepFailure> {
    if (recordBeside && besideRecord(steps, i) === i + 2) return this.runTogether(steps, i, i + 2);
    const end = beside ? besideStart(steps, i) : i + 1;
    if (end === i + 1) {
      try {
        await this.runStep(steps[i]!);
        return { next: i + 1 };
      } catch (err) {
        if (isCancellation(err)) throw err;
        return { index: i, err };
      }
    }
    const checks = new CancellationScope();
    let startError: { err: unknown } | undefined;
    const start = this.runStep(steps[i]!, this.healthBeside(steps[i]!, steps[i + 1]!)).catch(
      (err: unknown) => {
        startError = { err };
        checks.cancel();
      },
    );
    let checkError: StepFailure | undefined;
    let stopped: string | undefined;
    await checks.run(async () => {
      for (let j = i + 1; j < end; j++) {
        try {
          await this.runStep(steps[j]!);
        } catch (err) {
          if (startError && isCancellation(err)) stopped = steps[j]!.id;
          else checkError = { index: j, err };
          return;
        }
      }
    });
    await start;
    if (startError) {
      if (isCancellation(startError.err)) throw startError.err;
      if (stopped) this.markNotRun(stopped);
      return { index: i, err: startError.err };
    }
    if (checkError && isCancellation(checkError.err)) throw checkError.err;
    return checkError ?? { next: end };
  }

  /**
   * Runs steps [i, end) at once and waits for all of them: resolves to `end`, or to the first of
   * them (in plan order) that failed for good. An operator's cancellation is thrown.
   */
  private async runTogether(
    steps: PlanStep[],
    i: number,
    end: number,
  ): Promise<{ next: number } | StepFailure> {
    const outcomes = await Promise.allSettled(steps.slice(i, end).map((step) => this.runStep(step)));
    const failed = outcomes.findIndex((o) => o.status === 'rejected');
    if (failed < 0) return { next: end };
    const err = (outcomes[failed] as PromiseRejectedResult).reason as unknown;
    if (isCancellation(err)) throw err;
    return { index: i + failed, err };
  }

  /**
   * The health check beside a start, given to the start so that its crash-at-start watch ends
   * once the service answered it (with no restart) rather than at the end of the grace period.
   * Only when both run in the same place: the start looks at the same service the check does.
   */
  private healthBeside(start: PlanStep, check: PlanStep): Record<string, unknown> | undefined {
    const where = (step: PlanStep) => hostLabel('on' in step ? step.on : undefined);
    if (where(start) !== where(check)) return undefined;
    const { url, expectedVersion } = resolveRefs(check.input, this.results) as {
      url: string;
      expectedVersion?: string;
    };
    return { endWatchWhenHealthy: { url, ...(expectedVersion ? { expectedVersion } : {}) } };
  }

  markSkipped(id: string, reason: string): void {
    const p = this.progress(id);
    p.state = 'skipped';
    p.summary = reason;
    this.publish();
  }

  /** Runs the registered undos, newest first, and records each one's outcome; never throws. */
  async compensate(): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      for (const undo of [...this.undos].reverse()) {
        for (const c of undo.calls) {
          const entry: RollbackRecord['undos'][number] = {
            stepId: undo.stepId,
            activity: c.activity,
            state: 'running',
            startedAt: new Date().toISOString(),
          };
          this.record.undos.push(entry);
          try {
            const r = await call(c.activity, c.retry, `Undo ${undo.stepId}: ${c.activity}`, c.input, c.on);
            entry.state = 'succeeded';
            entry.summary = r.summary;
          } catch (err) {
            entry.state = 'failed';
            entry.error = describeError(err);
          }
          entry.finishedAt = new Date().toISOString();
          this.publish();
        }
      }
    });
  }
}
