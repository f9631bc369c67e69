import { z } from 'zod';
import { alertsSchema } from '../alerts/schema';
import { notifySchema } from '../notifications/channels';
import { allowedSignersSchema, userName } from './common';
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

/** A Slack user id, as Slack shows it under a profile's "Copy member ID": U012ABC or W012ABC. */
const slackUserId = z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'must be a Slack member id, like U012ABC');

const approverEntry = z.union([userName, z.strictObject({ name: userName, slack: slackUserId.optional() })]);

/** Names and chat identities of people, from the approvers list. */
function identitiesOf(entries: z.infer<typeof approverEntry>[]) {
  const names = entries.map((e) => (typeof e === 'string' ? e : e.name));
  const slack: Record<string, string> = {};
  for (const e of entries) if (typeof e !== 'string' && e.slack) slack[e.slack] = e.name;
  return { names, slack };
}

/** A fleet: targets rolled back together, in waves (`rollback start KIND --group NAME`). */
const waveSize = z.union([
  z.number().int().min(1),
  z.string().regex(/^(100|[1-9][0-9]?)%$/, 'a share of the group, like 25%'),
]);
export const groupSchema = z.strictObject({
  targets: z
    .array(targetName)
    .min(1)
    .describe('the targets, in the order they are rolled back (canary first)'),
  /** Cumulative: after wave i, this many (or this share) of the targets have been rolled back. */
  waves: z.array(waveSize).min(1).default([1, '100%']),
  maxParallel: z.number().int().min(1).max(100).default(5),
  failureThreshold: z.number().int().min(1).default(1),
  pauseBetweenWavesSeconds: z.number().min(0).max(86_400).default(0),
  /** At the threshold: stop starting more, and leave (stop), roll the completed back (compensate), or ask (decide). */
  onThreshold: z.enum(['stop', 'compensate', 'decide']).default('decide'),
  /** A group of more targets than this runs its waves in batches, each a child workflow (histories stay small). */
  batchSize: z.number().int().min(1).max(500).default(50),
  /** How long a decision is waited for, then `stop`. */
  decisionTimeoutSeconds: z.number().int().min(1).default(3600),
  /** Whether the group needs an approval (one covers every target); default: when a target's kind would. */
  approval: z
    .strictObject({ required: z.boolean().optional(), quorum: z.number().int().min(1).default(1) })
    .prefault({}),
});

/** The `rollback.yaml` schema: global approvers and channels, and the targets of every kind. */
/** The config's top-level fields, targets picked by `deploy.type` (see TargetKinds.targetSchema). */
function configFields(kinds: TargetKinds) {
  return z.strictObject({
    version: z.literal(1).default(1),
    /**
     * Who may approve any target's rollbacks: names, or `{ name, slack }` to say which Slack user
     * a name is (approvals from chat count only for mapped users).
     */
    approvers: z.array(approverEntry).default([]),
    /** Public SSH keys of approvers (allowed_signers lines), for targets that require signed approvals. */
    allowedSigners: allowedSignersSchema.default([]),
    /** Channels every target notifies, besides its own. */
    notify: notifySchema.optional(),
    /** Alerts `rollback serve` turns into rollbacks (Alertmanager webhooks, SNS CloudWatch alarms). */
    alerts: alertsSchema.optional(),
    targets: z
      .record(targetName, kinds.targetSchema())
      .refine((t) => Object.keys(t).length > 0, 'must define at least one target'),
    groups: z.record(targetName, groupSchema).default({}),
  });
}

export function configSchema(kinds: TargetKinds = targetKinds) {
  return configFields(kinds)
    .superRefine((c, ctx) => {
      const seen = new Map<string, string>();
      for (const e of c.approvers) {
        if (typeof e === 'string' || !e.slack) continue;
        const other = seen.get(e.slack);
        if (other && other !== e.name)
          ctx.addIssue({
            code: 'custom',
            path: ['approvers'],
            message: `Slack user ${e.slack} is given to both ${other} and ${e.name}; one Slack user is one person`,
          });
        seen.set(e.slack, e.name);
      }
      for (const [name, g] of Object.entries(c.groups)) {
        const seenTargets = new Set<string>();
        for (const [i, t] of g.targets.entries()) {
          if (!Object.hasOwn(c.targets, t))
            ctx.addIssue({
              code: 'custom',
              path: ['groups', name, 'targets', i],
              message: `no target "${t}" in this config; use one of: ${Object.keys(c.targets).join(', ')}`,
            });
          if (seenTargets.has(t))
            ctx.addIssue({
              code: 'custom',
              path: ['groups', name, 'targets', i],
              message: `"${t}" is listed twice`,
            });
          seenTargets.add(t);
        }
      }
      for (const [i, r] of (c.alerts?.routes ?? []).entries()) {
        if (!Object.hasOwn(c.targets, r.target))
          ctx.addIssue({
            code: 'custom',
            path: ['alerts', 'routes', i, 'target'],
            message: `no target "${r.target}" in this config; use one of: ${Object.keys(c.targets).join(', ')}`,
          });
      }
    })
    .transform((c) => {
      const { names, slack } = identitiesOf(c.approvers);
      /** `identities.slack`: Slack user id → the person's name. */
      return { ...c, approvers: names, identities: { slack } };
    });
}

export type RollbackConfig = z.infer<ReturnType<typeof configSchema>>;

/**
 * `rollback.yaml` as a JSON Schema (draft 2020-12), from the same zod schemas the loader uses, for
 * editors (yaml-language-server: `# yaml-language-server: $schema=rollback.schema.json`). A target is
 * any one of the kinds' schemas, told apart by `deploy.type`. Checks that only code can make (paths
 * on the host, plans) stay with `rollback config check`.
 */
export function configJsonSchema(kinds: TargetKinds = targetKinds): Record<string, unknown> {
  const schemas = kinds.types.map((t) => kinds.schemaOf(t));
  const forEditors = configFields(kinds).extend({
    targets: z.record(targetName, z.union(schemas as [z.ZodType, z.ZodType, ...z.ZodType[]])),
  });
  return {
    ...z.toJSONSchema(forEditors, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }),
    title: 'rollback-orchestrator config (rollback.yaml)',
  };
}
