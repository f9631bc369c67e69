import {
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  proxyActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ChannelRef, Plan, RollbackEvent, RollbackEventType, RollbackRecord } from '../model';
import { describeError } from './step-runner';

const { sendNotification } = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 6 },
});

/**
 * Delivers one event to every channel, each retried with backoff. Started by the rollback as an
 * abandoned child, so a dead endpoint never slows the rollback, and the last events of a finished
 * rollback are still delivered after it closes.
 */
export async function notifyWorkflow(input: {
  channels: ChannelRef[];
  event: RollbackEvent;
}): Promise<string[]> {
  const outcomes = await Promise.all(
    input.channels.map(async (channel, i) => {
      const name = channel.name ?? `${channel.type}#${i + 1}`;
      try {
        await sendNotification({
          channel: channel as Parameters<Activities['sendNotification']>[0]['channel'],
          event: input.event,
        });
        return `${name}: delivered`;
      } catch (err) {
        // The activity's own message ("environment variable X is not set"), not the wrapper's.
        return `${name}: not delivered (${describeError(err)})`;
      }
    }),
  );
  return outcomes;
}

export type Notify = (type: RollbackEventType, extra?: Partial<RollbackEvent>) => Promise<void>;

/**
 * Each notification is an abandoned child workflow: starting it takes one round trip, its retries
 * against a slow or dead endpoint happen outside the rollback, and it outlives the rollback.
 */
export function notifier(plan: Plan, record: RollbackRecord): Notify {
  let seq = 0;
  const info = workflowInfo();
  const webUrl = plan.webUiBase
    ? `${plan.webUiBase}/namespaces/${encodeURIComponent(info.namespace)}/workflows/${encodeURIComponent(info.workflowId)}/${info.runId}/history`
    : undefined;
  return async (type, extra = {}) => {
    if (plan.notify.length === 0) return;
    const event: RollbackEvent = {
      type,
      at: new Date().toISOString(),
      rollbackId: record.rollbackId,
      workflowId: info.workflowId,
      target: record.target,
      kind: record.kind,
      toVersion: record.toVersion,
      fromVersion: record.fromVersion,
      requestedBy: record.requestedBy,
      reason: record.reason,
      status: record.status,
      webUrl,
      ...extra,
    };
    // Not cancellable: cancelling the rollback must not cancel (or skip) its notices.
    await CancellationScope.nonCancellable(() =>
      startChild(notifyWorkflow, {
        workflowId: `${info.workflowId}-${info.runId}-notify-${++seq}-${type}`,
        args: [{ channels: plan.notify, event }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        cancellationType: ChildWorkflowCancellationType.ABANDON,
      }),
    );
  };
}
