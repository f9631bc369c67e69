import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';

import type { FailureType, StepResult } from '../model';

export type { StepResult } from '../model';

function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1; // called outside an activity (tests, the bench script)
  }
}

export function done<D extends Record<string, unknown>>(summary: string, data: D = {} as D): StepResult<D> {
  return { summary, attempt: currentAttempt(), data };
}

/** Heartbeat if we are inside an activity; a no-op elsewhere. */
export function heartbeat(details?: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    /* not in an activity */
  }
}

export function cancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** A failure that retrying cannot fix (a missing tag, a bad config): fail the step at once. */
export function permanent(message: string, type: FailureType, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    message,
    type,
    nonRetryable: true,
    details: details ? [details] : undefined,
  });
}
