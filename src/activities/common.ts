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

/** The details each running activity last heartbeated, so the keep-alive repeats them. */
const lastDetails = new WeakMap<Context, unknown>();

/** Heartbeat if we are inside an activity; a no-op elsewhere. */
export function heartbeat(details?: unknown): void {
  try {
    const ctx = Context.current();
    if (details !== undefined) lastDetails.set(ctx, details);
    ctx.heartbeat(details ?? lastDetails.get(ctx));
  } catch {
    /* not in an activity */
  }
}

/**
 * Heartbeats every second while `work` runs, repeating the activity's last details: every step
 * has a short heartbeat timeout, so a worker that dies mid-step is noticed in seconds and the step
 * re-runs elsewhere, instead of after its whole start-to-close timeout.
 */
export async function keepAlive<T>(work: () => Promise<T>): Promise<T> {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return work(); // not in an activity
  }
  // A retry starts with the details its previous attempt recorded (an ECS wait keeps its deadline
  // there): repeat those, or the first keep-alive would overwrite them with nothing.
  if (!lastDetails.has(ctx) && ctx.info.heartbeatDetails !== undefined) {
    lastDetails.set(ctx, ctx.info.heartbeatDetails);
  }
  const timer = setInterval(() => ctx.heartbeat(lastDetails.get(ctx)), 1000);
  try {
    ctx.heartbeat(lastDetails.get(ctx));
    return await work();
  } finally {
    clearInterval(timer);
  }
}

export function cancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** A failure worth another attempt (a service still starting), typed so tools can tell it apart. */
export function retryable(message: string, type: FailureType): ApplicationFailure {
  return ApplicationFailure.create({ message, type, nonRetryable: false });
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
