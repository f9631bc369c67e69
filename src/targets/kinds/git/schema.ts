import { z } from 'zod';
import {
  absolutePath,
  argvSchema,
  commonTargetFields,
  configPath,
  hostPartialSchema,
  gitRemoteName,
  refSchema,
} from '../../common';
import { hostSchema } from '../../host';
import { validationSchema } from '../../validation/schema';

/** A service deployed as a git working copy on a host, built there and run by a process manager. */

const pm2ServiceSchema = z.strictObject({
  manager: z.literal('pm2'),
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a pm2 process name (letters, digits, . _ -)'),
  script: z.string().min(1).describe('entry file, relative to the deploy path'),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  pm2Home: absolutePath.optional(),
  /** How to run pm2 on the host; default: the orchestrator's own pm2 locally, `pm2` on another host. */
  pm2Command: argvSchema.optional(),
  /** How long a started process must stay up before the start counts (catches crash-at-start). */
  startGraceSeconds: z.number().min(0).max(60).default(1),
  /** The start counts as soon as the health check beside it passes with no restart (default true). */
  startGraceEndsWhenHealthy: z.boolean().optional(),
});

const commandServiceSchema = z.strictObject({
  manager: z.literal('command'),
  start: argvSchema,
  stop: argvSchema,
  status: argvSchema.describe('exits 0 when the service is running'),
  cwd: absolutePath.optional(),
  /** How long `status` must keep reporting it running after a start (catches a release that dies at once). */
  startGraceSeconds: z.number().min(0).max(60).default(1),
  /** The start counts as soon as the health check beside it passes (default true). */
  startGraceEndsWhenHealthy: z.boolean().optional(),
});

export const serviceSchema = z.discriminatedUnion('manager', [pm2ServiceSchema, commandServiceSchema]);
export type ServiceConfig = z.infer<typeof serviceSchema>;

const gitDeploySchema = z.strictObject({
  type: z.literal('git'),
  /** The branch a complete rollback reverts on and redeploys from. */
  branch: refSchema.default('main'),
  path: absolutePath.describe('the deployed working copy'),
  remote: gitRemoteName,
  stableVersion: refSchema.describe('the known-good tag an emergency rollback returns to'),
  install: argvSchema.default(['npm', 'ci', '--no-audit', '--no-fund']),
  build: argvSchema.optional(),
});

export const gitTargetSchema = z.strictObject({
  ...commonTargetFields,
  /** Where the service runs: local (default), { ssh: {...} } or { worker: NAME }. */
  host: hostSchema,
  deploy: gitDeploySchema,
  service: serviceSchema,
  configFiles: z.array(configPath).default(['.env', 'package.json', 'package-lock.json']),
  backupDir: absolutePath,
  logFiles: z.array(z.string()).default([]),
  validate: validationSchema.default({}),
  partial: hostPartialSchema.optional(),
  /** A rehearsal copy: only sandbox targets may be broken on purpose by `rollback drill`. */
  sandbox: z.boolean().default(false),
});

export type GitTarget = z.infer<typeof gitTargetSchema>;
