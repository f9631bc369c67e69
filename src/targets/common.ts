import { z } from 'zod';
import { DECISIONS } from '../model';
import { notifySchema } from '../notifications/channels';

/**
 * Config pieces every target kind shares. Objects are strict: an unknown field is far more often a
 * typo (`stableVerison`) than an intention, and a silently ignored setting in a rollback config is
 * exactly the kind of surprise an on-call engineer cannot afford.
 */

/** Git refs and versions reach `git` as argv, but we still refuse anything that is not plainly a ref. */
export const SAFE_REF = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}$/;

export const refSchema = z
  .string()
  .regex(SAFE_REF, 'must be a plain git tag, branch or commit (letters, digits, . _ / + -), like v1.11.4');

export const argvSchema = z
  .array(z.string().min(1))
  .min(1, 'must name a program, as an argv list like ["npm", "ci"]');

export const absolutePath = z.string().refine((p) => p.startsWith('/'), 'must be an absolute path');

export const gitRemoteName = z
  .string()
  .regex(/^[A-Za-z0-9._-]+$/, 'must be a git remote name, like origin')
  .default('origin');

export const regexSchema = z.string().refine((p) => {
  try {
    new RegExp(p);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

export const envFlagsSchema = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'flag names are environment variable names'),
  z.string().regex(/^[^\n\r]*$/, 'must be one line'),
);

export const userName = z
  .string()
  .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be a user name (letters, digits, . _ @ -)');

const perKind = <T extends z.ZodType>(t: T) =>
  z.strictObject({ emergency: t.optional(), complete: t.optional(), partial: t.optional() });

export const decisionSchema = z.enum(DECISIONS);

const approvalSchema = z.strictObject({
  /** Which kinds need approval; defaults: complete yes, emergency and partial no. */
  required: perKind(z.boolean()).default({}),
  /** Who may approve this target's rollbacks, besides the global `approvers`. */
  approvers: z.array(userName).default([]),
  /** Distinct approvals needed. */
  quorum: z.number().int().min(1).max(10).default(1),
  /** Escalate (notify) after this long without a decision, then apply onTimeout. */
  timeoutSeconds: z.number().positive().optional(),
  onTimeout: z.enum(['reject', 'approve']).default('reject'),
});

const onFailureSchema = z.strictObject({
  /** Whether a step that failed for good waits for an operator decision; defaults: emergency no, others yes. */
  wait: perKind(z.boolean()).default({}),
  timeoutSeconds: z.number().positive().default(900),
  /** What happens when nobody decides in time; default compensate. */
  default: perKind(decisionSchema).default({}),
});

/** The fields of every target, whatever its kind: spread into each kind's schema. */
export const commonTargetFields = {
  description: z.string().optional(),
  reportsDir: absolutePath,
  approval: approvalSchema.default({ required: {}, approvers: [], quorum: 1, onTimeout: 'reject' }),
  onFailure: onFailureSchema.default({ wait: {}, timeoutSeconds: 900, default: {} }),
  notify: notifySchema.optional(),
};

export type CommonTargetConfig = z.infer<z.ZodObject<typeof commonTargetFields>>;
