import { z } from 'zod';
import { parseAllowedSigners } from '../model/signatures';
import { DECISIONS } from '../model';
import { staysInside } from '../model/env-files';
import { notifySchema } from '../notifications/channels';
import { guardSchema } from './guard';
import { absolutePath } from './primitives';

export { absolutePath, regexSchema } from './primitives';

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

// Characters a shell would read (and spawn does not): separators, operators, quotes, globs, ~, $.
const SHELL_SYNTAX = /[\s;&|<>$`()*?{}[\]!~'"\\]/;
const SHELL_LINE = /&&|\|\||[;|<>`]|\$\(/;

/** An argv list as a config would write it: ["npm", "ci"]. */
const showArgv = (argv: string[]) => `[${argv.map((a) => JSON.stringify(a)).join(', ')}]`;

/** Why an argv list would not run what it seems to say, with the split form; undefined when fine. */
export function argvProblem(argv: string[], example: string): string | undefined {
  const program = argv[0];
  if (!program || !SHELL_SYNTAX.test(program)) return undefined;
  const prefix = 'argv lists are not run through a shell';
  if (program.startsWith('~')) return `${prefix}, so ~ is not expanded: write the program's absolute path`;
  const words = program.trim().split(/\s+/);
  if (words.length > 1 && words.every((w) => !SHELL_SYNTAX.test(w))) {
    return `${prefix}; split it: ${showArgv([...words, ...argv.slice(1)])}`;
  }
  const line = argv.join(' ');
  const first = line
    .split(SHELL_LINE)[0]!
    .split(/\s+/)
    .map((w) => w.replace(/^['"]|['"]$/g, ''))
    .filter(Boolean);
  return (
    `${prefix}; split it, one argument per element (like ${first.length ? showArgv(first) : example}), ` +
    `and put a command line with &&, | or ; in a script, or run a shell on purpose: ${showArgv(['sh', '-c', line])}`
  );
}

/** A program and its arguments, run without a shell (so no element is ever interpreted). */
export function argvList(example: string) {
  return z
    .array(z.string().min(1))
    .min(1, `must name a program, as an argv list like ${example}`)
    .superRefine((argv, ctx) => {
      const problem = argvProblem(argv, example);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [0] });
    });
}

export const argvSchema = argvList('["npm", "ci"]');

export const gitRemoteName = z
  .string()
  .regex(/^[A-Za-z0-9._-]+$/, 'must be a git remote name, like origin')
  .default('origin');

export const envFlagsSchema = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'flag names are environment variable names'),
  z.string().regex(/^[^\n\r]*$/, 'must be one line'),
);

/** A config file of a deployed service, relative to its folder. */
export const configPath = z.string().min(1).refine(staysInside, 'must be a path inside the deploy path');

/** A service's partial rollback: feature flags set in its env file, then a restart. */
export const hostPartialSchema = z.strictObject({
  /** The env file the flags are set in, inside the deployed folder (its backup goes beside the others). */
  envFile: configPath.default('.env'),
  flags: envFlagsSchema.refine(
    (f) => Object.keys(f).length > 0,
    'name at least one flag, e.g. QURATOR: "false"',
  ),
});

export const userName = z
  .string()
  .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be a user name (letters, digits, . _ @ -)');

const perKind = <T extends z.ZodType>(t: T) =>
  z.strictObject({ emergency: t.optional(), complete: t.optional(), partial: t.optional() });

export const decisionSchema = z.enum(DECISIONS);

/**
 * allowed_signers lines (`carol ssh-ed25519 AAAA…`, as `ssh-keygen -Y verify` reads them): the public
 * keys whose signatures count as an approver's, for targets with `approval.requireSignature`.
 */
export const allowedSignersSchema = z.array(z.string()).superRefine((lines, ctx) => {
  try {
    parseAllowedSigners(lines);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

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
  /** Approvals and decisions count only when signed by an allowed signer's SSH key (ssh-keygen -Y sign). */
  requireSignature: z.boolean().default(false),
  /** Allowed signers of this target, besides the global `allowedSigners`. */
  allowedSigners: allowedSignersSchema.default([]),
});

const onFailureSchema = z.strictObject({
  /** Whether a step that failed for good waits for an operator decision; defaults: emergency no, others yes. */
  wait: perKind(z.boolean()).default({}),
  timeoutSeconds: z.number().positive().default(900),
  /** What happens when nobody decides in time; default compensate. */
  default: perKind(decisionSchema).default({}),
});

/** The fields of every target, whatever its kind: spread into each kind's schema. */
/** The pre-flight analysis: where migrations and documented env keys live, what is accepted. */
export const analysisSchema = z.strictObject({
  /** Findings (`migration:NAME`, `env:KEY`, or `migration:*`) this target accepts for every rollback. */
  accept: z
    .array(
      z.string().regex(/^[A-Za-z0-9._@/:*-]+$/, 'must be a finding id such as migration:NAME or env:KEY'),
    )
    .default([]),
  /** Globs, relative to the deploy path (an npm package: its folder), of migration files: one added since the target version blocks. */
  migrations: z
    .array(configPath)
    .default(['migrations/**', 'prisma/migrations/**', 'db/migrate/**', 'db/migrations/**']),
  /** Where a version documents its env keys (`KEY=` required, `# KEY=` optional); the first found counts. */
  envExamples: z.array(configPath).default(['.env.example', '.env.sample']),
});

export const commonTargetFields = {
  description: z.string().optional(),
  reportsDir: absolutePath,
  approval: approvalSchema.default({
    required: {},
    approvers: [],
    quorum: 1,
    onTimeout: 'reject',
    requireSignature: false,
    allowedSigners: [],
  }),
  onFailure: onFailureSchema.default({ wait: {}, timeoutSeconds: 900, default: {} }),
  notify: notifySchema.optional(),
  /** Automatic triggers: rules that roll the target back when a signal stays bad (rollback guard). */
  guard: guardSchema.optional(),
  analysis: analysisSchema.prefault({}),
};

export type CommonTargetConfig = z.infer<z.ZodObject<typeof commonTargetFields>>;
