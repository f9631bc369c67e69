import { z } from 'zod';
import { notifySchema } from '../notifications/channels';
import { userName } from './common';
import { targetKinds, type TargetKinds } from './kinds';

/**
 * Target names become workflow ids, folder names and object keys: plain lower-case words, and
 * none that every JavaScript object already has (`constructor`), so no lookup can find a
 * built-in where a target was meant.
 */
export const targetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
    message: 'target names are lower-case letters, digits and -, like lightdash-mcp',
    abort: true,
  })
  .refine(
    (name) => !(name in Object.prototype),
    'every JavaScript object already has a property of that name; name the target after its service, like lightdash-mcp',
  );

/** The `rollback.yaml` schema: global approvers and channels, and the targets of every kind. */
export function configSchema(kinds: TargetKinds = targetKinds) {
  return z.strictObject({
    version: z.literal(1).default(1),
    /** Who may approve any target's rollbacks. */
    approvers: z.array(userName).default([]),
    /** Channels every target notifies, besides its own. */
    notify: notifySchema.optional(),
    targets: z
      .record(targetName, kinds.targetSchema())
      .refine((t) => Object.keys(t).length > 0, 'must define at least one target'),
  });
}

export type RollbackConfig = z.infer<ReturnType<typeof configSchema>>;
