import type { HostSpec } from './hosts';
import type { RollbackKind } from './kinds';

/**
 * Guards: a long-running workflow per target samples signals every interval and keeps, per rule,
 * how long the rule's condition has held. The types and the rule arithmetic live here, free of
 * I/O, because the guard workflow runs them (deterministically) and the CLI shows their results.
 */

/** Where a value comes from; each is sampled by its own module in src/activities/signals. */
export type SignalSpec =
  | {
      /** Share (0..1) of the instances whose health URL does not answer the expected status in time. */
      type: 'http-health';
      urls: string[];
      expectStatus: number;
      timeoutMs: number;
    }
  | {
      /** The first value of an instant query through Prometheus's HTTP API (`/api/v1/query`). */
      type: 'prometheus';
      url: string;
      query: string;
      /** An environment variable of the worker holding a bearer token (never the token itself). */
      tokenEnv?: string;
    }
  | {
      /** Resident memory of the service's process: percent of the host's memory, or MB. */
      type: 'process-memory';
      pidFile?: string;
      /** pm2's process name; its PM2_HOME and the pm2 argv (a pm2 target's service gives both). */
      pm2?: { name: string; home?: string; command?: string[] };
      unit: 'percent' | 'mb';
      /** The target's host (SSH, or its own worker): where the process runs. */
      on?: HostSpec;
    }
  | {
      /** Lines matching any pattern, per minute, appended to a log file since the last sample. */
      type: 'error-log';
      file: string;
      patterns: string[];
      /** The target's host (SSH, or its own worker): where the log is. */
      on?: HostSpec;
    }
  | {
      /** Share (0..1) of a load balancer target group's targets that are not healthy. */
      type: 'target-group';
      region: string;
      endpoint?: string;
      targetGroupArn: string;
    }
  | {
      /** How many of the named CloudWatch alarms are in ALARM. */
      type: 'cloudwatch-alarms';
      region: string;
      endpoint?: string;
      alarms: string[];
    }
  | {
      /** The latest datapoint of a CloudWatch metric (GetMetricData over the last few periods). */
      type: 'cloudwatch-metric';
      region: string;
      endpoint?: string;
      namespace: string;
      metric: string;
      dimensions: Record<string, string>;
      stat: string;
      periodSeconds: number;
    };

export interface GuardRule {
  name: string;
  signal: SignalSpec;
  /** The rule breaches while the value is above (or below) this. */
  above?: number;
  below?: number;
  /** How long every sample must breach before the rule holds. */
  forSeconds: number;
  /** `rollback` starts one; `propose` notifies with the command to run (a person decides). */
  action: 'rollback' | 'propose';
  kind: RollbackKind;
  to?: string;
}

/** A recurring (days + UTC times) or one-off (ISO start/end) window in which a guard only records. */
export type MaintenanceWindow =
  { days?: string[]; from: string; to: string } | { start: string; end: string };

export interface GuardSpec {
  target: string;
  /** The config file the guard's rollbacks are planned from, read by the worker when one starts. */
  configFile: string;
  intervalSeconds: number;
  coolDownSeconds: number;
  rules: GuardRule[];
  maintenance: MaintenanceWindow[];
  /** Samples per run before the guard continues as new (its history stays bounded). */
  samplesPerRun: number;
  /** The Temporal Web UI's base address, for links in notifications. */
  webUiBase?: string;
  /** The target's notification channels (names and env variable names only). */
  notify: unknown[];
}

/** One sample of one rule's signal. */
export interface Sample {
  at: string;
  /** Absent when the signal gave no value (no data, the source failed): neither breach nor clear. */
  value?: number;
  breached: boolean;
  note?: string;
}

export interface RuleState {
  /** When the current unbroken run of breaching samples began. */
  breachSince?: string;
  /** The latest samples, newest last (kept for evidence and `guard status`). */
  samples: Sample[];
}

export interface GuardAction {
  at: string;
  rule: string;
  /** What the guard did when the rule held. */
  action: 'rollback-started' | 'rollback-refused' | 'already-running' | 'proposed' | 'escalated' | 'recorded';
  detail: string;
  workflowId?: string;
}

export interface GuardState {
  rules: Record<string, RuleState>;
  paused: boolean;
  pausedBy?: string;
  /** When the guard last started a rollback: none again within the cool-down. */
  lastRollbackAt?: string;
  /** That rollback's workflow: while it runs, a rule that holds again waits for it (no escalation). */
  lastRollback?: { workflowId: string; runId?: string };
  /** Error-log signals: the byte offset read up to, per rule. */
  offsets: Record<string, number>;
  actions: GuardAction[];
  samplesTaken: number;
  startedAt: string;
}

/** What `guard status` shows: the state, with the spec's rules and where each stands. */
export interface GuardStatus {
  target: string;
  state: GuardState;
  rules: { name: string; condition: string; forSeconds: number; heldSeconds: number; last?: Sample }[];
  inMaintenance: boolean;
  coolingDownUntil?: string;
}

export const GUARD_KEEP_SAMPLES = 20;
export const GUARD_KEEP_ACTIONS = 50;

export function guardWorkflowId(target: string): string {
  return `guard-${target}`;
}

export function conditionText(rule: Pick<GuardRule, 'above' | 'below'>): string {
  return rule.above !== undefined ? `> ${rule.above}` : `< ${rule.below}`;
}

export function breaches(rule: Pick<GuardRule, 'above' | 'below'>, value: number | undefined): boolean {
  if (value === undefined || Number.isNaN(value)) return false;
  return rule.above !== undefined ? value > rule.above : rule.below !== undefined && value < rule.below;
}

export function initialGuardState(now: Date): GuardState {
  return {
    rules: {},
    paused: false,
    offsets: {},
    actions: [],
    samplesTaken: 0,
    startedAt: now.toISOString(),
  };
}

/** Seconds the rule's condition has held without a break, at `now`. */
export function heldSeconds(state: RuleState | undefined, now: Date): number {
  if (!state?.breachSince) return 0;
  return Math.max(0, (now.getTime() - Date.parse(state.breachSince)) / 1000);
}

/**
 * Adds one sample to a rule's state. A value that does not breach ends the run; a missing value
 * (the source did not answer) also ends it, so a guard never acts on a window it did not see whole.
 */
export function addSample(state: RuleState | undefined, sample: Sample): RuleState {
  const samples = [...(state?.samples ?? []), sample].slice(-GUARD_KEEP_SAMPLES);
  const breachSince = sample.breached ? (state?.breachSince ?? sample.at) : undefined;
  return { samples, ...(breachSince ? { breachSince } : {}) };
}

/** The rules whose condition has held for their whole window at `now`. */
export function holdingRules(rules: GuardRule[], state: GuardState, now: Date): GuardRule[] {
  return rules.filter((r) => {
    const s = state.rules[r.name];
    return !!s?.breachSince && heldSeconds(s, now) >= r.forSeconds;
  });
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

/** Whether `now` falls in a maintenance window (recurring windows are in UTC and may wrap midnight). */
export function inMaintenance(windows: MaintenanceWindow[], now: Date): boolean {
  return windows.some((w) => {
    if ('start' in w) return now.getTime() >= Date.parse(w.start) && now.getTime() < Date.parse(w.end);
    const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
    const from = minutesOf(w.from);
    const to = minutesOf(w.to);
    const day = DAYS[now.getUTCDay()];
    const yesterday = DAYS[(now.getUTCDay() + 6) % 7];
    const dayOk = (d: string) => !w.days || w.days.includes(d);
    if (from <= to) return dayOk(day) && minute >= from && minute < to;
    // Wraps midnight: the part after midnight belongs to the window that began the day before.
    return (dayOk(day) && minute >= from) || (dayOk(yesterday) && minute < to);
  });
}

/** One line per sample in a rule's current breach: the evidence an automatic rollback records. */
export function evidenceOf(rule: GuardRule, state: RuleState | undefined, now: Date): string[] {
  const since = state?.breachSince;
  const samples = (state?.samples ?? []).filter((s) => since && s.at >= since);
  return [
    `rule ${rule.name}: ${describeSignal(rule.signal)} ${conditionText(rule)} held ${Math.round(heldSeconds(state, now))} s (window ${rule.forSeconds} s)`,
    ...samples.map((s) => `  ${s.at}  ${s.value ?? 'no value'}${s.note ? `  (${s.note})` : ''}`),
  ];
}

export function describeSignal(signal: SignalSpec): string {
  switch (signal.type) {
    case 'http-health':
      return `share of ${signal.urls.length} instance(s) unhealthy`;
    case 'prometheus':
      return `prometheus ${signal.query}`;
    case 'process-memory':
      return `process memory (${signal.unit === 'mb' ? 'MB' : '% of host'})`;
    case 'error-log':
      return `error lines per minute in ${signal.file}`;
    case 'target-group':
      return `share of ${signal.targetGroupArn.split(':').pop()} targets unhealthy`;
    case 'cloudwatch-alarms':
      return `CloudWatch alarms in ALARM of ${signal.alarms.join(', ')}`;
    case 'cloudwatch-metric':
      return `CloudWatch ${signal.namespace} ${signal.metric} ${signal.stat}`;
  }
}
