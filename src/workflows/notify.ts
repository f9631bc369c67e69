import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { NotifyChannel } from '../targets/schema';
import type { RollbackEvent } from './events';

const { sendNotification } = proxyActivities<typeof activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 6 },
});

/**
 * Delivers one event to every channel, each retried with backoff. Started by the rollback as an
 * abandoned child, so a dead endpoint never slows the rollback, and the last events of a finished
 * rollback are still delivered after it closes.
 */
export async function notifyWorkflow(input: {
  channels: NotifyChannel[];
  event: RollbackEvent;
}): Promise<string[]> {
  const outcomes = await Promise.all(
    input.channels.map(async (channel, i) => {
      const name = channel.name ?? `${channel.type}#${i + 1}`;
      try {
        await sendNotification({ channel, event: input.event });
        return `${name}: delivered`;
      } catch (err) {
        return `${name}: not delivered (${(err as Error).message})`;
      }
    }),
  );
  return outcomes;
}
