import { z } from 'zod';
import type { GuardRule, GuardSpec, SignalSpec } from '../model/guard';
import type { HostSpec } from '../model/hosts';
import { ROLLBACK_KINDS } from '../model/kinds';
import { absolutePath, regexSchema } from './primitives';
import { ConfigError } from './errors';
import { httpUrl } from './url';

/**
 * `guard:` on a target: the rules that roll it back (or propose to) when a signal stays past a
 * threshold for a whole window. Presets carry the runbooks' rules; a rule of the same name in
 * `rules` replaces the preset's.
 */

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const ruleName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'rule names are lower-case words and -, like error-rate');
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a UTC time HH:MM, like 02:30');
const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO time, like 2026-12-24T18:00:00Z' });

const awsFields = {
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region, like eu-west-1')
    .optional(),
  endpoint: httpUrl('http://127.0.0.1:5000').optional(),
};

const signalSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('http-health'),
    urls: z.array(httpUrl('http://10.0.0.5:8080/health')).min(1, 'name at least one instance URL'),
    expectStatus: z.number().int().min(100).max(599).default(200),
    timeoutMs: z.number().int().positive().max(15_000).default(2000),
  }),
  z.strictObject({
    type: z.literal('prometheus'),
    url: httpUrl('http://127.0.0.1:9090'),
    query: z.string().min(1).max(2000),
    tokenEnv: envName.optional(),
  }),
  z
    .strictObject({
      type: z.literal('process-memory'),
      pidFile: absolutePath.optional(),
      pm2: z.strictObject({ name: z.string().min(1), home: absolutePath.optional() }).optional(),
      unit: z.enum(['percent', 'mb']).default('percent'),
    })
    .refine((s) => Boolean(s.pidFile) !== Boolean(s.pm2), 'give exactly one of pidFile or pm2: { name }'),
  z.strictObject({
    type: z.literal('error-log'),
    file: absolutePath,
    patterns: z.array(regexSchema).min(1).default(['ERROR', 'FATAL']),
  }),
  // AWS: region and endpoint default to an ECS target's own (deploy.region, deploy.endpoint).
  z.strictObject({
    type: z.literal('target-group'),
    ...awsFields,
    targetGroupArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/.+$/,
        'must be a target group ARN',
      ),
  }),
  z.strictObject({
    type: z.literal('cloudwatch-alarms'),
    ...awsFields,
    alarms: z.array(z.string().min(1)).min(1),
  }),
  z.strictObject({
    type: z.literal('cloudwatch-metric'),
    ...awsFields,
    namespace: z.string().min(1),
    metric: z.string().min(1),
    dimensions: z.record(z.string(), z.string()).default({}),
    stat: z.string().min(1).default('Average'),
    periodSeconds: z.number().int().min(1).default(60),
  }),
]);

const ruleSchema = z
  .strictObject({
    name: ruleName,
    signal: signalSchema.optional(),
    above: z.number().optional(),
    below: z.number().optional(),
    forSeconds: z.number().positive().optional(),
    action: z.enum(['rollback', 'propose']).optional(),
    kind: z.enum(ROLLBACK_KINDS).optional(),
    to: z.string().optional(),
  })
  .refine((r) => r.above === undefined || r.below === undefined, 'give above or below, not both');

const windowSchema = z.union([
  z.strictObject({
    days: z.array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])).optional(),
    from: hhmm,
    to: hhmm,
  }),
  z.strictObject({ start: isoTime, end: isoTime }),
]);

export const PRESETS = ['ecs-runbook', 'mcp-runbook'] as const;

export const guardSchema = z.strictObject({
  /** The runbook's rules; what they watch comes from `sources`. */
  preset: z.enum(PRESETS).optional(),
  /** Where a preset's rules read their signals. */
  sources: z
    .strictObject({
      healthUrls: z.array(httpUrl('http://10.0.0.5:8080/health')).min(1).optional(),
      prometheus: z
        .strictObject({
          url: httpUrl('http://127.0.0.1:9090'),
          tokenEnv: envName.optional(),
          errorRate: z.string().min(1).optional(),
          latencySeconds: z.string().min(1).optional(),
          memoryRatio: z.string().min(1).optional(),
        })
        .optional(),
      errorLog: z
        .strictObject({ file: absolutePath, patterns: z.array(regexSchema).min(1).optional() })
        .optional(),
      memory: z
        .strictObject({
          pidFile: absolutePath.optional(),
          pm2: z.strictObject({ name: z.string().min(1), home: absolutePath.optional() }).optional(),
        })
        .optional(),
    })
    .default({}),
  rules: z.array(ruleSchema).default([]),
  intervalSeconds: z.number().positive().max(3600).default(30),
  /** No second automatic rollback of the target within this long of the last: escalate instead. */
  coolDownSeconds: z.number().nonnegative().default(3600),
  maintenance: z.array(windowSchema).default([]),
  /** Samples per workflow run before it continues as new (keeps its history bounded). */
  samplesPerRun: z.number().int().min(2).max(10_000).default(500),
});

export type GuardConfig = z.infer<typeof guardSchema>;
type RuleConfig = z.infer<typeof ruleSchema>;

/** What an ECS target's deploy section gives a guard: where its health, alarms and memory are. */
export interface EcsGuardDefaults {
  region: string;
  endpoint?: string;
  cluster: string;
  service: string;
  targetGroupArn?: string;
  alarms: string[];
}

type ConfigSignal = NonNullable<RuleConfig['signal']>;

/** A pm2 target's service as its guard's process-memory signal reads it. */
export interface Pm2Service {
  name: string;
  home?: string;
  command?: string[];
}

/** The pm2 process a target's service runs as, when its manager is pm2; undefined otherwise. */
export function pm2ServiceOf(target: unknown): Pm2Service | undefined {
  const s = (
    target as { service?: { manager?: string; name?: string; pm2Home?: string; pm2Command?: string[] } }
  ).service;
  if (s?.manager !== 'pm2' || !s.name) return undefined;
  return {
    name: s.name,
    ...(s.pm2Home ? { home: s.pm2Home } : {}),
    ...(s.pm2Command ? { command: s.pm2Command } : {}),
  };
}

/** An ECS target's own AWS places, for its guard's presets and AWS signals; undefined for other kinds. */
export function ecsGuardDefaults(target: { deploy: { type: string } }): EcsGuardDefaults | undefined {
  const d = target.deploy as Partial<EcsGuardDefaults> & { type: string };
  if (d.type !== 'ecs' || !d.region || !d.cluster || !d.service) return undefined;
  return {
    region: d.region,
    ...(d.endpoint ? { endpoint: d.endpoint } : {}),
    cluster: d.cluster,
    service: d.service,
    ...(d.targetGroupArn ? { targetGroupArn: d.targetGroupArn } : {}),
    alarms: d.alarms ?? [],
  };
}

/** The runbooks' automatic triggers (the ECS runbook's four; the MCP runbook's health, logs, memory). */
function presetRules(g: GuardConfig, ecs?: EcsGuardDefaults): RuleConfig[] {
  if (!g.preset) return [];
  const s = g.sources;
  const aws = ecs ? { region: ecs.region, ...(ecs.endpoint ? { endpoint: ecs.endpoint } : {}) } : undefined;
  const prom = (query: string | undefined): SignalSpec | undefined =>
    s.prometheus && query
      ? { type: 'prometheus', url: s.prometheus.url, query, tokenEnv: s.prometheus.tokenEnv }
      : undefined;
  const health: SignalSpec | undefined = s.healthUrls
    ? { type: 'http-health', urls: s.healthUrls, expectStatus: 200, timeoutMs: 2000 }
    : ecs?.targetGroupArn && aws
      ? { type: 'target-group', ...aws, targetGroupArn: ecs.targetGroupArn }
      : undefined;
  // An ECS service's memory is CloudWatch's AWS/ECS MemoryUtilization (percent), unless Prometheus has it.
  const ecsMemory: SignalSpec | undefined =
    ecs && aws && !s.prometheus?.memoryRatio
      ? {
          type: 'cloudwatch-metric',
          ...aws,
          namespace: 'AWS/ECS',
          metric: 'MemoryUtilization',
          dimensions: { ClusterName: ecs.cluster, ServiceName: ecs.service },
          stat: 'Average',
          periodSeconds: 60,
        }
      : undefined;
  const memory: SignalSpec | undefined = s.memory
    ? { type: 'process-memory', pidFile: s.memory.pidFile, pm2: s.memory.pm2, unit: 'percent' }
    : (ecsMemory ?? prom(s.prometheus?.memoryRatio));
  const memoryAbove = s.memory || ecsMemory ? 90 : 0.9;
  const rules: (RuleConfig & { signal?: SignalSpec })[] = [
    { name: 'unhealthy-instances', signal: health, above: 0.5, forSeconds: 300 },
    { name: 'error-rate', signal: prom(s.prometheus?.errorRate), above: 0.1, forSeconds: 600 },
    { name: 'latency', signal: prom(s.prometheus?.latencySeconds), above: 5, forSeconds: 600 },
    { name: 'memory', signal: memory, above: memoryAbove, forSeconds: 300 },
  ];
  if (ecs?.alarms.length && aws) {
    rules.push({
      name: 'alarms',
      signal: { type: 'cloudwatch-alarms', ...aws, alarms: ecs.alarms },
      above: 0,
      forSeconds: 300,
    });
  }
  if (g.preset === 'mcp-runbook') {
    rules.push({
      name: 'error-log',
      signal: s.errorLog
        ? { type: 'error-log', file: s.errorLog.file, patterns: s.errorLog.patterns ?? ['ERROR', 'FATAL'] }
        : undefined,
      above: 10,
      forSeconds: 300,
    });
  }
  return rules.filter((r) => r.signal).map((r) => ({ ...r, signal: r.signal as ConfigSignal }));
}

/** A signal as the workflow runs it: an AWS one gets the ECS target's region and endpoint when it names none. */
function completeSignal(
  signal: ConfigSignal,
  ecs: EcsGuardDefaults | undefined,
  host: HostSpec | undefined,
  pm2: Pm2Service | undefined,
  where: string,
  problems: string[],
): SignalSpec | undefined {
  // A process's memory and a log file are read where the service runs; a pm2 process through the
  // target's own pm2 (its argv and PM2_HOME), when the target's service is the process named.
  if (signal.type === 'process-memory' || signal.type === 'error-log') {
    const out = { ...signal, ...(host ? { on: host } : {}) } as SignalSpec;
    if (out.type === 'process-memory' && out.pm2 && pm2 && pm2.name === out.pm2.name) {
      out.pm2 = {
        ...out.pm2,
        ...((out.pm2.home ?? pm2.home) ? { home: out.pm2.home ?? pm2.home } : {}),
        ...(pm2.command ? { command: pm2.command } : {}),
      };
    }
    return out;
  }
  if (
    signal.type !== 'target-group' &&
    signal.type !== 'cloudwatch-alarms' &&
    signal.type !== 'cloudwatch-metric'
  )
    return signal as SignalSpec;
  const region = signal.region ?? ecs?.region;
  if (!region) {
    problems.push(`${where}: an AWS signal needs region (an ECS target gives its own)`);
    return undefined;
  }
  const endpoint = signal.endpoint ?? (signal.region ? undefined : ecs?.endpoint);
  return { ...signal, region, ...(endpoint ? { endpoint } : {}) } as SignalSpec;
}

/**
 * A target's guard as the workflow runs it: preset rules with the config's overrides, every rule
 * complete. Throws ConfigError naming the rule and the missing field.
 */
export function resolveGuard(
  target: string,
  g: GuardConfig,
  configFile: string,
  extra: {
    webUiBase?: string;
    notify?: unknown[];
    ecs?: EcsGuardDefaults;
    host?: HostSpec;
    pm2?: Pm2Service;
  } = {},
): GuardSpec {
  const byName = new Map<string, RuleConfig>();
  for (const r of presetRules(g, extra.ecs)) byName.set(r.name, r);
  for (const r of g.rules) byName.set(r.name, { ...byName.get(r.name), ...r });
  const problems: string[] = [];
  const rules: GuardRule[] = [];
  for (const r of byName.values()) {
    const where = `targets.${target}.guard.rules ${r.name}`;
    if (!r.signal)
      problems.push(
        `${where}: no signal (give signal: { type: prometheus | http-health | process-memory | error-log, ... })`,
      );
    if (r.above === undefined && r.below === undefined)
      problems.push(`${where}: give a threshold, above: N or below: N`);
    if (!r.signal || (r.above === undefined && r.below === undefined)) continue;
    const signal = completeSignal(r.signal, extra.ecs, extra.host, extra.pm2, where, problems);
    if (!signal) continue;
    rules.push({
      name: r.name,
      signal,
      ...(r.above !== undefined ? { above: r.above } : { below: r.below }),
      forSeconds: r.forSeconds ?? 300,
      action: r.action ?? 'rollback',
      kind: r.kind ?? 'emergency',
      ...(r.to ? { to: r.to } : {}),
    });
  }
  if (!problems.length && rules.length === 0) {
    problems.push(
      g.preset
        ? `targets.${target}.guard: preset ${g.preset} found no sources to watch; give guard.sources (healthUrls, prometheus: { url, errorRate, ... }, errorLog, memory)`
        : `targets.${target}.guard: no rules; give preset: ${PRESETS.join(' | ')} with sources, or rules: [...]`,
    );
  }
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return {
    target,
    configFile,
    intervalSeconds: g.intervalSeconds,
    coolDownSeconds: g.coolDownSeconds,
    rules,
    maintenance: g.maintenance,
    samplesPerRun: g.samplesPerRun,
    notify: extra.notify ?? [],
    ...(extra.webUiBase ? { webUiBase: extra.webUiBase } : {}),
  };
}
