import type { PlanStep, StepRef } from '../../model';
import { ConfigError } from '../errors';
import type { ErrorLogConfig, ValidationConfig } from './schema';

/**
 * The plan steps of a host service's `validate:` section. Pure: no I/O, no clock, so planners stay
 * pure when they splice them in.
 */

/** What the checks need to know of the service besides its `validate:` section. */
export interface ServiceChecks {
  validate: ValidationConfig;
  /** Where relative paths resolve (stdio command, log files, env files): the deploy path. */
  cwd: string;
  /** The host's env files: their values are masked in whatever a check reports. */
  envFiles: string[];
  /** The pm2 process, when the service runs under pm2 (its logs can be watched). */
  pm2?: { name: string; pm2Home?: string };
}

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
  checks: ServiceChecks,
  idSuffix = '',
): PlanStep[] {
  if (config.pm2 && !checks.pm2) {
    throw new ConfigError(
      'validate.errorLog.pm2 needs service.manager pm2; name the log files in validate.errorLog.files instead',
    );
  }
  const cwd = checks.cwd;
  const pm2 = config.pm2 ? checks.pm2 : undefined;
  const id = (base: string) => `${base}${idSuffix}`;
  const markRef = (field: string): StepRef => ({ $ref: `${id(ERROR_LOG_STEP_IDS.mark)}.${field}` });
  const watched = [...config.files, ...(pm2 ? [`pm2 logs of ${pm2.name}`] : [])].join(', ');
  return [
    {
      id: id(ERROR_LOG_STEP_IDS.mark),
      title: `Open the error-log window on ${watched}`,
      role: 'inspect',
      activity: 'markLogOffsets',
      retry: 'quick',
      input: { files: config.files, ...(pm2 ? { pm2 } : {}), cwd },
      undo: [],
    },
    {
      id: id(ERROR_LOG_STEP_IDS.wait),
      title: `Watch the logs for ${formatSeconds(config.windowSeconds)}`,
      role: 'wait',
      activity: 'wait',
      retry: 'record',
      input: { seconds: config.windowSeconds },
      undo: [],
    },
    {
      id: id(ERROR_LOG_STEP_IDS.scan),
      title: `Check for error lines written in the ${formatSeconds(config.windowSeconds)} window`,
      role: 'validate',
      activity: 'scanLogs',
      retry: 'validate',
      input: {
        files: markRef('files'),
        offsets: markRef('offsets'),
        patterns: config.patterns,
        ignoreCase: config.ignoreCase,
        redactEnvFiles: checks.envFiles,
        cwd,
      },
      undo: [],
    },
  ];
}

function formatSeconds(s: number): string {
  return s >= 120 && s % 60 === 0 ? `${s / 60} min` : `${s} s`;
}

/** The checks, once per validation phase; later phases wait on durable timers and pause on failure. */
export function validationSteps(
  checks: ServiceChecks,
  expectedVersion: string | StepRef | undefined,
): PlanStep[] {
  const steps = checksOnce(checks, expectedVersion, '', '');
  const phases = checks.validate.phases;
  const later: [string, string, number | undefined][] = [
    ['short-term', 'Short-term', phases?.shortTermAfterSeconds],
    ['long-term', 'Long-term', phases?.longTermAfterSeconds],
  ];
  for (const [id, label, after] of later) {
    if (after === undefined) continue;
    steps.push({
      id: `wait-${id}`,
      title: `Wait ${after} s for the ${id} validation phase`,
      role: 'wait',
      activity: 'wait',
      retry: 'record',
      input: { seconds: after },
      undo: [],
    });
    steps.push(
      ...checksOnce(checks, expectedVersion, `@${id}`, `${label}: `).map((s) => ({
        ...s,
        onFailure: 'decide' as const,
      })),
    );
  }
  return steps;
}

function checksOnce(
  checks: ServiceChecks,
  expectedVersion: string | StepRef | undefined,
  suffix: string,
  prefix: string,
): PlanStep[] {
  const v = checks.validate;
  const steps: PlanStep[] = [];
  const versionLabel =
    typeof expectedVersion === 'string'
      ? ` and version ${expectedVersion}`
      : expectedVersion
        ? ' and version'
        : '';
  const expected = (wanted: boolean) => (wanted ? expectedVersion : undefined);
  if (v.health) {
    const { expectVersion, from, ...health } = v.health;
    steps.push({
      id: `validate-health${suffix}`,
      title: `${prefix}Check health${expectVersion ? versionLabel : ''}`,
      role: 'validate',
      activity: 'checkHealth',
      retry: 'validate',
      input: { ...health, ...fromHost(from), expectedVersion: expected(expectVersion) },
      undo: [],
    });
  }
  for (const [id, transport, mcp] of [
    ['validate-mcp-http', 'http', v.mcp],
    ['validate-mcp-stdio', 'stdio', v.mcpStdio],
  ] as const) {
    if (!mcp) continue;
    const { expectVersion, ...withFrom } = mcp;
    const { from, ...rest } = { from: undefined, ...withFrom };
    steps.push({
      id: `${id}${suffix}`,
      title: `${prefix}Check MCP tools over ${transport === 'http' ? 'HTTP' : 'stdio'}${mcp.expectedTools !== undefined ? ` (${mcp.expectedTools} expected)` : ''}`,
      role: 'validate',
      activity: 'checkMcp',
      retry: 'validate',
      input: {
        transport,
        cwd: checks.cwd,
        redactEnvFiles: checks.envFiles,
        ...rest,
        ...fromHost(from),
        expectedVersion: expected(expectVersion),
      },
      undo: [],
    });
  }
  if (v.latency) {
    const { from, ...latency } = v.latency;
    steps.push({
      id: `validate-latency${suffix}`,
      title: `${prefix}Sample latency (${v.latency.samples} requests, average under ${v.latency.maxAverageMs} ms)`,
      role: 'validate',
      activity: 'checkLatency',
      retry: 'validate',
      input: { ...latency, ...fromHost(from) },
      undo: [],
    });
  }
  if (v.errorLog) steps.push(...errorLogWindowSteps(v.errorLog, checks, suffix));
  return steps;
}

/**
 * `from: host` stays in the check's input, where `runsOnHost` finds it when the plan is placed;
 * the default (from the orchestrator) leaves the input as plans have always had it.
 */
function fromHost(from: 'orchestrator' | 'host' | undefined): { from?: 'host' } {
  return from === 'host' ? { from } : {};
}
