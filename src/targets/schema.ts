import { z } from 'zod';
import { ecsDeploySchema } from './ecs-schema';
import { errorLogSchema, mcpProbeSchema } from './validation';

/**
 * The `rollback.yaml` schema. Objects are strict: an unknown field is far more often a typo
 * (`stableVerison`) than an intention, and a silently ignored setting in a rollback config is
 * exactly the kind of surprise an on-call engineer cannot afford.
 */

/** Git refs and versions reach `git` as argv, but we still refuse anything that is not plainly a ref. */
export const SAFE_REF = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}$/;

export const refSchema = z
  .string()
  .regex(SAFE_REF, 'must be a plain git tag, branch or commit (letters, digits, . _ / + -), like v1.11.4');

const argvSchema = z
  .array(z.string().min(1))
  .min(1, 'must name a program, as an argv list like ["npm", "ci"]');

const absolutePath = z.string().refine((p) => p.startsWith('/'), 'must be an absolute path');

const pm2ServiceSchema = z.strictObject({
  manager: z.literal('pm2'),
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a pm2 process name (letters, digits, . _ -)'),
  script: z.string().min(1).describe('entry file, relative to the deploy path'),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  pm2Home: absolutePath.optional(),
  /** How long a started process must stay up before the start counts (catches crash-at-start). */
  startGraceSeconds: z.number().min(0).max(60).default(1),
});

const commandServiceSchema = z.strictObject({
  manager: z.literal('command'),
  start: argvSchema,
  stop: argvSchema,
  status: argvSchema.describe('exits 0 when the service is running'),
  cwd: absolutePath.optional(),
});

export const serviceSchema = z.discriminatedUnion('manager', [pm2ServiceSchema, commandServiceSchema]);

const gitDeploySchema = z.strictObject({
  type: z.literal('git'),
  /** The branch a complete rollback reverts on and redeploys from. */
  branch: refSchema.default('main'),
  path: absolutePath.describe('the deployed working copy'),
  remote: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/)
    .default('origin'),
  stableVersion: refSchema.describe('the known-good tag an emergency rollback returns to'),
  install: argvSchema.default(['npm', 'ci', '--no-audit', '--no-fund']),
  build: argvSchema.optional(),
});

const healthSchema = z.strictObject({
  url: z.url(),
  expectVersion: z.boolean().default(true),
  timeoutSeconds: z.number().positive().default(60),
});

const mcpCommon = {
  expectedTools: z.number().int().nonnegative().optional(),
  toolNames: z.array(z.string()).optional(),
  probe: mcpProbeSchema.optional(),
  probes: z.array(mcpProbeSchema).optional(),
  /** Check the server's reported version against the version rolled back to. */
  expectVersion: z.boolean().default(false),
  timeoutSeconds: z.number().positive().optional(),
};

const mcpHttpSchema = z.strictObject({ url: z.url(), ...mcpCommon });

const mcpStdioSchema = z.strictObject({
  command: argvSchema.describe('argv of the server in stdio mode; relative paths resolve in the deploy path'),
  /** Non-secret settings only: they enter the workflow history. Secrets stay in the env file. */
  env: z.record(z.string(), z.string()).optional(),
  ...mcpCommon,
});

const latencySchema = z.strictObject({
  url: z.url(),
  samples: z.number().int().min(1).max(1000).default(10),
  maxAverageMs: z.number().positive().default(2000),
  maxP95Ms: z.number().positive().optional(),
});

const phasesSchema = z.strictObject({
  /** Seconds after the immediate checks to run them again (short-term phase). */
  shortTermAfterSeconds: z.number().positive().optional(),
  /** Seconds after the short-term phase to run them a last time (long-term phase). */
  longTermAfterSeconds: z.number().positive().optional(),
});

export const validationSchema = z.strictObject({
  phases: phasesSchema.optional(),
  health: healthSchema.optional(),
  mcp: mcpHttpSchema.optional(),
  mcpStdio: mcpStdioSchema.optional(),
  latency: latencySchema.optional(),
  /** Watch the service's logs for error lines for a window after the rollback (durable timer). */
  errorLog: errorLogSchema.optional(),
});

const userName = z
  .string()
  .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be a user name (letters, digits, . _ @ -)');
const perKind = <T extends z.ZodType>(t: T) =>
  z.strictObject({ emergency: t.optional(), complete: t.optional(), partial: t.optional() });

export const DECISIONS = ['retry', 'skip', 'compensate', 'abort'] as const;
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

const urlOrEnv = {
  url: z.url().optional(),
  /** Name of an environment variable of the worker holding the URL (webhook URLs are secrets). */
  urlEnv: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
    .optional(),
};
const channelSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('slack'), name: z.string().optional(), ...urlOrEnv }),
    z.strictObject({ type: z.literal('webhook'), name: z.string().optional(), ...urlOrEnv }),
    z.strictObject({
      type: z.literal('statuspage'),
      name: z.string().optional(),
      component: z.string().optional(),
      ...urlOrEnv,
    }),
  ])
  .refine((c) => Boolean(c.url) !== Boolean(c.urlEnv), 'give exactly one of url or urlEnv')
  .refine(
    (c) => c.type !== 'slack' || Boolean(c.urlEnv),
    'a Slack webhook URL is a secret: give it as urlEnv, not url',
  );

export const notifySchema = z.strictObject({ channels: z.array(channelSchema).default([]) });

const partialSchema = z.strictObject({
  /** The env file the flags are set in, relative to the deploy path. */
  envFile: z.string().default('.env'),
  flags: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'flag names are env variable names'),
      z.string().regex(/^[^\n\r]*$/),
    )
    .refine((f) => Object.keys(f).length > 0, 'name at least one flag, e.g. QURATOR: "false"'),
});

export const targetSchema = z.strictObject({
  description: z.string().optional(),
  host: z.literal('local').default('local'),
  deploy: gitDeploySchema,
  service: serviceSchema,
  configFiles: z
    .array(
      z
        .string()
        .min(1)
        .refine(
          (p) => !p.startsWith('/') && !p.split('/').includes('..'),
          'must be a path inside the deploy path',
        ),
    )
    .default(['.env', 'package.json', 'package-lock.json']),
  backupDir: absolutePath,
  reportsDir: absolutePath,
  logFiles: z.array(z.string()).default([]),
  validate: validationSchema.default({}),
  approval: approvalSchema.default({ required: {}, approvers: [], quorum: 1, onTimeout: 'reject' }),
  onFailure: onFailureSchema.default({ wait: {}, timeoutSeconds: 900, default: {} }),
  notify: notifySchema.optional(),
  partial: partialSchema.optional(),
  /** A rehearsal copy: only sandbox targets may be broken on purpose by `rollback drill`. */
  sandbox: z.boolean().default(false),
});

/** A service on AWS ECS: no host, no process manager; the deploy section says everything. */
export const ecsTargetSchema = z.strictObject({
  description: z.string().optional(),
  deploy: ecsDeploySchema,
  reportsDir: absolutePath,
  approval: targetSchema.shape.approval,
  onFailure: targetSchema.shape.onFailure,
  notify: notifySchema.optional(),
});

/**
 * Picks the schema by `deploy.type` rather than with z.union, so an error's path points into the
 * schema the user meant (`targets.x.deploy: unknown field "deadline"`), not into every alternative.
 */
const anyTargetSchema = z.unknown().transform((raw, ctx): TargetConfig | EcsTargetConfig => {
  const isEcs = (raw as { deploy?: { type?: unknown } } | null)?.deploy?.type === 'ecs';
  const r = (isEcs ? ecsTargetSchema : targetSchema).safeParse(raw);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue({ ...issue } as never);
    return z.NEVER;
  }
  return r.data;
});

export const configSchema = z.strictObject({
  version: z.literal(1).default(1),
  /** Who may approve any target's rollbacks. */
  approvers: z.array(userName).default([]),
  /** Channels every target notifies, besides its own. */
  notify: notifySchema.optional(),
  targets: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'target names are lower-case letters, digits and -'),
      anyTargetSchema,
    )
    .refine((t) => Object.keys(t).length > 0, 'must define at least one target'),
});

export type RollbackConfig = z.infer<typeof configSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type ServiceConfig = z.infer<typeof serviceSchema>;
export type ValidationConfig = z.infer<typeof validationSchema>;
export type Decision = z.infer<typeof decisionSchema>;
export type NotifyChannel = z.infer<typeof channelSchema>;
export type EcsTargetConfig = z.infer<typeof ecsTargetSchema>;
export type AnyTargetConfig = TargetConfig | EcsTargetConfig;
