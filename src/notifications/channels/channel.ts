import { z } from 'zod';
import type { RollbackEvent } from '../../model';
import { httpUrl } from '../../targets/url';

/** A notification channel: its config schema and the body it posts for an event. */
export interface NotificationChannel<S extends z.ZodObject<{ type: z.ZodLiteral<string> }>> {
  schema: S;
  /** The URL is a secret (a Slack webhook): the config must name an env variable, not the URL. */
  urlIsSecret: boolean;
  body(channel: z.infer<S>, event: RollbackEvent): unknown;
}

/** Where a channel posts: a URL in the config, or the name of a worker env variable holding it. */
export const urlOrEnv = {
  name: z.string().optional(),
  url: httpUrl('https://hooks.example.com/rollbacks').optional(),
  urlEnv: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
    .optional(),
};
