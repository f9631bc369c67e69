import { z } from 'zod';
import type { PlanStep, StepRef } from './plan';
import type { TargetConfig } from './schema';

/**
 * Config pieces of issue 4's validation (MCP probes, the error-log window) and the plan steps
 * they become. Pure: no I/O, no clock, so planRollback stays pure when it splices them in.
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

const DEFAULT_ERROR_PATTERNS = ['\\bERROR\\b', '\\bFATAL\\b', 'Unhandled', 'uncaught exception'];

export const errorLogSchema = z
  .strictObject({
    /** Log files, absolute or relative to deploy.path. */
    files: z.array(z.string().min(1)).default([]),
    /** Also watch pm2's logs of the service (PM2_HOME/logs/NAME-out.log and NAME-error.log). */
    pm2: z.boolean().default(false),
    /** Regular expressions; a line matching any of them fails the window. */
    patterns: z
      .array(
        z.string().refine((p) => {
          try {
            new RegExp(p);
            return true;
          } catch {
            return false;
          }
        }, 'must be a valid regular expression'),
      )
      .min(1)
      .default(DEFAULT_ERROR_PATTERNS),
    ignoreCase: z.boolean().default(true),
    /** How long to watch; the runbook's default is 15 minutes. */
    windowSeconds: z.number().positive().max(86_400).default(900),
  })
  .refine((c) => c.pm2 || c.files.length > 0, 'name the log files to watch (files), or set pm2: true');

export type ErrorLogConfig = z.infer<typeof errorLogSchema>;

/** The step ids the window uses; validate-error-log is what the success criteria look for. */
export const ERROR_LOG_STEP_IDS = {
  mark: 'error-log-mark',
  wait: 'error-log-window',
  scan: 'validate-error-log',
} as const;

/**
 * The error-log window as three plan steps: mark the log files' ends, wait `windowSeconds` on a
 * durable timer, scan what was written since the mark. The scan reads the mark's result by
 * reference, so the mark step may also be moved earlier in a plan (e.g. just before `start`, to
 * count the new release's start-up errors in the window) as long as it stays before the scan.
 * `idSuffix` (e.g. `@short-term`) lets a plan run the window more than once.
 */
export function errorLogWindowSteps(
  config: ErrorLogConfig,
  target: Pick<TargetConfig, 'deploy' | 'service' | 'configFiles'>,
  idSuffix = '',
): PlanStep[] {
  if (config.pm2 && target.service.manager !== 'pm2') {
    throw new Error('validate.errorLog.pm2 needs service.manager pm2; name the log files instead');
  }
  const cwd = target.deploy.path;
  const pm2 =
    config.pm2 && target.service.manager === 'pm2'
      ? { name: target.service.name, ...(target.service.pm2Home ? { pm2Home: target.service.pm2Home } : {}) }
      : undefined;
  const id = (base: string) => `${base}${idSuffix}`;
  const markRef = (field: string): StepRef => ({ $ref: `${id(ERROR_LOG_STEP_IDS.mark)}.${field}` });
  const watched = [...config.files, ...(pm2 ? [`pm2 logs of ${pm2.name}`] : [])].join(', ');
  return [
    {
      id: id(ERROR_LOG_STEP_IDS.mark),
      title: `Open the error-log window on ${watched}`,
      activity: 'markLogOffsets',
      retry: 'quick',
      input: { files: config.files, ...(pm2 ? { pm2 } : {}), cwd },
      undo: [],
    },
    {
      id: id(ERROR_LOG_STEP_IDS.wait),
      title: `Watch the logs for ${formatSeconds(config.windowSeconds)}`,
      activity: 'wait',
      retry: 'record',
      input: { seconds: config.windowSeconds },
      undo: [],
    },
    {
      id: id(ERROR_LOG_STEP_IDS.scan),
      title: `Check for error lines written in the ${formatSeconds(config.windowSeconds)} window`,
      activity: 'scanLogs',
      retry: 'validate',
      input: {
        files: markRef('files'),
        offsets: markRef('offsets'),
        patterns: config.patterns,
        ignoreCase: config.ignoreCase,
        // Values of the host's env files are masked in the reported lines.
        redactEnvFiles: target.configFiles.filter((f) => /(^|\/)\.env[^/]*$/.test(f)),
        cwd,
      },
      undo: [],
    },
  ];
}

function formatSeconds(s: number): string {
  return s >= 120 && s % 60 === 0 ? `${s / 60} min` : `${s} s`;
}
