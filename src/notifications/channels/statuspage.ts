import { z } from 'zod';
import { headline } from '../headline';
import { urlOrEnv, type NotificationChannel } from './channel';

const schema = z.strictObject({
  type: z.literal('statuspage'),
  component: z.string().optional(),
  ...urlOrEnv,
});

/** A status page: the component's status follows the rollback. */
export const statuspage: NotificationChannel<typeof schema> = {
  schema,
  urlIsSecret: false,
  body(channel, e) {
    const status =
      e.type === 'succeeded'
        ? 'operational'
        : e.type === 'failed' || e.type === 'aborted'
          ? 'major_outage'
          : 'degraded_performance';
    return {
      component: channel.component ?? e.target,
      status,
      message: headline(e),
      rollbackId: e.rollbackId,
      url: e.webUrl,
    };
  },
};
