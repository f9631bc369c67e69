import { z } from 'zod';
import { argvList, regexSchema } from '../common';
import { httpUrl } from '../url';

/**
 * `validate:` of a service that runs on a host (git deployments today): health, MCP over HTTP and
 * stdio, latency, the error-log window, and the phases they repeat in.
 */

/** What a probe's result must look like, judged on its first text content. */
export const mcpProbeExpectSchema = z.strictObject({
  json: z.boolean().optional(),
  keys: z.array(z.string().min(1)).optional(),
  textIncludes: z.string().optional(),
});

export const mcpProbeSchema = z.strictObject({
  tool: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).default({}),
  expect: mcpProbeExpectSchema.optional(),
});

export const DEFAULT_ERROR_PATTERNS = ['\\bERROR\\b', '\\bFATAL\\b', 'Unhandled', 'uncaught exception'];

export const errorLogSchema = z
  .strictObject({
    /** Log files, absolute or relative to deploy.path. */
    files: z.array(z.string().min(1)).default([]),
    /** Also watch pm2's logs of the service (PM2_HOME/logs/NAME-out.log and NAME-error.log). */
    pm2: z.boolean().default(false),
    /** Regular expressions; a line matching any of them fails the window. */
    patterns: z.array(regexSchema).min(1).default(DEFAULT_ERROR_PATTERNS),
    ignoreCase: z.boolean().default(true),
    /** How long to watch; the runbook's default is 15 minutes. */
    windowSeconds: z.number().positive().max(86_400).default(900),
  })
  .refine((c) => c.pm2 || c.files.length > 0, 'name the log files to watch (files), or set pm2: true');

export type ErrorLogConfig = z.infer<typeof errorLogSchema>;

/**
 * Where an HTTP check starts: the orchestrator's worker (default), or the target's host (over its
 * SSH connection, or by its host worker), for a service that listens only on the host's loopback.
 */
const fromSchema = z.enum(['orchestrator', 'host']).default('orchestrator');

const healthSchema = z.strictObject({
  url: httpUrl('http://127.0.0.1:8080/health'),
  from: fromSchema,
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

const mcpHttpSchema = z.strictObject({
  url: httpUrl('http://127.0.0.1:8080/mcp'),
  from: fromSchema,
  ...mcpCommon,
});

/** Starts the server where it is deployed: on the target's host (over SSH, or by its host worker). */
const mcpStdioSchema = z.strictObject({
  command: argvList('["node", "dist/index.js", "--stdio"]').describe(
    'argv of the server in stdio mode; relative paths resolve in the deploy path',
  ),
  /** Non-secret settings only: they enter the workflow history. Secrets stay in the env file. */
  env: z.record(z.string(), z.string()).optional(),
  ...mcpCommon,
});

const latencySchema = z.strictObject({
  url: httpUrl('http://127.0.0.1:8080/health'),
  from: fromSchema,
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

export type ValidationConfig = z.infer<typeof validationSchema>;
