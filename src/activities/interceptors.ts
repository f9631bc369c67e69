import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { keepAlive } from './common';

/**
 * Keeps every activity heartbeating while it runs (a lost worker is noticed in seconds), and
 * attaches the attempt number to every activity failure, so the workflow's progress record can say
 * "failed after 3 attempts" even for a failure Temporal did not retry.
 */
export class AttemptTaggingInterceptor implements ActivityInboundCallsInterceptor {
  async execute(
    input: ActivityExecuteInput,
    next: Next<ActivityInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    // The SDK's activity logger adds workflowId, activityType, attempt and taskQueue to each line.
    const { log } = Context.current();
    const started = Date.now();
    log.info('activity started');
    try {
      const result = await keepAlive(() => next(input));
      log.info('activity completed', { durationMs: Date.now() - started });
      return result;
    } catch (err) {
      const attempt = Context.current().info.attempt;
      // (The SDK logs the failure itself, with the same metadata.)
      if (err instanceof ApplicationFailure) {
        (err as { details?: unknown[] }).details = [...(err.details ?? []), { attempt }];
        throw err;
      }
      if (err instanceof Error && err.name !== 'CancelledFailure' && err.name !== 'AbortError') {
        throw ApplicationFailure.create({ message: err.message, type: err.name, details: [{ attempt }] });
      }
      throw err;
    }
  }
}
