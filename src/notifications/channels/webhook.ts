import { z } from 'zod';
import { headline } from '../headline';
import { urlOrEnv, type NotificationChannel } from './channel';

const schema = z.strictObject({ type: z.literal('webhook'), ...urlOrEnv });

/** A generic webhook: the whole event as JSON, with its headline as `message`. */
export const webhook: NotificationChannel<typeof schema> = {
  schema,
  urlIsSecret: false,
  body: (_channel, e) => ({ ...e, message: headline(e) }),
};
