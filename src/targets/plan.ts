import { join } from 'node:path/posix';
import type {
  AnyTargetConfig,
  Decision,
  EcsTargetConfig,
  NotifyChannel,
  RollbackConfig,
  TargetConfig,
} from './schema';
import { planEcsRollback } from './ecs';
import { errorLogWindowSteps } from './validation';
import { SAFE_REF } from './schema';
import { ConfigError } from './load';

/**
 * A rollback plan is data: the CLI prints it, an approver reads it, the workflow executes it.
 * planRollback is pure (no I/O, no clock), so what was reviewed is exactly what runs.
 */

export type RollbackKind = 'emergency' | 'complete' | 'partial';
export const ROLLBACK_KINDS: readonly RollbackKind[] = ['emergency', 'complete', 'partial'];

/** How a step is retried and timed; the workflow maps each class to Temporal activity options. */
export type RetryClass = 'record' | 'quick' | 'service' | 'install' | 'validate';

export interface RollbackRequest {
  /** Names the backup folder and the report folder; unique per rollback of a target. */
  rollbackId: string;
  target: string;
  kind: RollbackKind;
  toVersion?: string;
  /** Complete rollbacks: the offending commits (a commit, or a range A..B). */
  commits?: string[];
  reason: string;
  impact?: string;
  requestedBy: string;
  /** ISO timestamp, taken by the client: planning itself never reads the clock. */
  requestedAt: string;
  /** The Temporal Web UI's base address, for links in notifications. */
  webUiBase?: string;
}

/**
 * A value `{ $ref: "stepId.field" }` in a step input is replaced, when the step runs, by that field
 * of an earlier step's result data. This is how an undo learns, say, the commit a checkout left.
 */
export interface StepRef {
  $ref: string;
}

export interface ActivityCall {
  activity: string;
  input: Record<string, unknown>;
}

export interface PlanStep extends ActivityCall {
  id: string;
  title: string;
  retry: RetryClass;
  /** Run in order, after this step's later steps were undone, when the rollback compensates. */
  undo: ActivityCall[];
  /** 'decide': wait for an operator decision when this step fails, whatever the kind's policy. */
  onFailure?: 'decide';
}

export interface ApprovalPolicy {
  required: boolean;
  approvers: string[];
  quorum: number;
  timeoutSeconds?: number;
  onTimeout: 'reject' | 'approve';
}

export interface FailurePolicy {
  /** Wait for an operator decision when a step fails for good (else: the default at once). */
  wait: boolean;
  timeoutSeconds: number;
  default: Decision;
}

export interface Plan {
  rollbackId: string;
  target: string;
  kind: RollbackKind;
  toVersion: string;
  /** Where the pre-rollback config files are kept (on the target host). */
  backupPath: string;
  reportsDir: string;
  approval: ApprovalPolicy;
  onFailure: FailurePolicy;
  /** Channels (URLs or the names of env variables holding them; never the secrets themselves). */
  notify: NotifyChannel[];
  webUiBase?: string;
  steps: PlanStep[];
}

export type PlanDefaults = Pick<RollbackConfig, 'approvers' | 'notify'>;

/** The first step of every plan: the incident log, written before anything changes. */
export function incidentStep(
  request: RollbackRequest,
  toVersion: string,
  reportsDir: string,
  affectedSystems: string[],
): PlanStep {
  return {
    id: 'incident',
    title: 'Record the incident',
    activity: 'recordIncident',
    retry: 'record',
    input: {
      reportsDir,
      rollbackId: request.rollbackId,
      target: request.target,
      kind: request.kind,
      toVersion,
      reason: request.reason,
      impact: request.impact ?? 'not stated',
      requestedBy: request.requestedBy,
      requestedAt: request.requestedAt,
      affectedSystems,
    },
    undo: [],
  };
}

/** `{ QURATOR: 'false' }` → `QURATOR=false`, as titles and version labels show flags. */
export function formatFlags(flags: Record<string, string>, separator = ', '): string {
  return Object.entries(flags)
    .map(([k, v]) => `${k}=${v}`)
    .join(separator);
}

export function ref(path: string): StepRef {
  return { $ref: path };
}

export function assertSafeVersion(version: string): void {
  if (!SAFE_REF.test(version)) {
    throw new ConfigError(
      `unsafe version "${version}": a version must be a plain git tag, branch or commit ` +
        '(letters, digits, . _ / + -, not starting with -), like v1.11.4',
    );
  }
}

const COMMIT = /^[0-9a-fA-F]{4,40}$/;

export function assertSafeCommits(commits: string[] | undefined): string[] {
  if (!commits || commits.length === 0) {
    throw new ConfigError(
      'a complete rollback needs the offending commits: --commit SHA (repeatable) or --commit A..B',
    );
  }
  for (const c of commits) {
    const parts = c.split('..');
    if (parts.length > 2 || !parts.every((p) => COMMIT.test(p))) {
      throw new ConfigError(
        `"${c}" is not a commit id or a range A..B of commit ids (hex, 4 to 40 characters)`,
      );
    }
  }
  return commits;
}

const APPROVAL_DEFAULT: Record<RollbackKind, boolean> = { emergency: false, complete: true, partial: false };
const WAIT_DEFAULT: Record<RollbackKind, boolean> = { emergency: false, complete: true, partial: true };

function policies(
  target: Pick<AnyTargetConfig, 'approval' | 'onFailure' | 'notify'>,
  request: RollbackRequest,
  defaults: PlanDefaults,
) {
  const kind = request.kind;
  const approvers = [...new Set([...defaults.approvers, ...target.approval.approvers])];
  const approval: ApprovalPolicy = {
    required: target.approval.required[kind] ?? APPROVAL_DEFAULT[kind],
    approvers,
    quorum: target.approval.quorum,
    timeoutSeconds: target.approval.timeoutSeconds,
    onTimeout: target.approval.onTimeout,
  };
  if (approval.required) {
    const eligible = approvers.filter((a) => a !== request.requestedBy);
    if (eligible.length < approval.quorum) {
      throw new ConfigError(
        `target "${request.target}": a ${kind} rollback needs ${approval.quorum} approval(s) but only ` +
          `${eligible.length} approver(s) other than ${request.requestedBy} are configured; add approvers ` +
          "(top-level `approvers:` or the target's `approval.approvers`)",
      );
    }
  }
  const onFailure: FailurePolicy = {
    wait: target.onFailure.wait[kind] ?? WAIT_DEFAULT[kind],
    timeoutSeconds: target.onFailure.timeoutSeconds,
    default: target.onFailure.default[kind] ?? 'compensate',
  };
  if (!onFailure.wait && onFailure.default === 'retry') {
    throw new ConfigError(
      `target "${request.target}": onFailure.default.${kind} is retry but nobody is asked (onFailure.wait.${kind} is false): ` +
        'a step that fails for good would be retried forever; set wait to true or choose compensate, skip or abort',
    );
  }
  const notify = [...(defaults.notify?.channels ?? []), ...(target.notify?.channels ?? [])];
  return { approval, onFailure, notify };
}

export function planRollback(
  anyTarget: AnyTargetConfig,
  request: RollbackRequest,
  defaults: PlanDefaults = { approvers: [] },
): Plan {
  if (anyTarget.deploy.type === 'ecs') {
    const ecs = anyTarget as EcsTargetConfig;
    return {
      ...planEcsRollback({ deploy: ecs.deploy, reportsDir: ecs.reportsDir }, request),
      ...policies(ecs, request, defaults),
      webUiBase: request.webUiBase,
    };
  }
  const target = anyTarget as TargetConfig;
  if (!/^[A-Za-z0-9._-]+$/.test(request.rollbackId)) {
    throw new ConfigError(`rollback id "${request.rollbackId}" may hold only letters, digits, . _ -`);
  }
  const path = target.deploy.path;
  const service = { ...target.service };
  const backupPath = join(target.backupDir, request.rollbackId);
  const files = target.configFiles;
  const install: ActivityCall = { activity: 'runInstall', input: { path, argv: target.deploy.install } };
  const build: ActivityCall[] = target.deploy.build
    ? [{ activity: 'runBuild', input: { path, argv: target.deploy.build } }]
    : [];

  let toVersion: string;
  let body: PlanStep[];
  if (request.kind === 'partial') {
    if (!target.partial) {
      throw new ConfigError(
        `target "${request.target}" has no \`partial:\` section; add the feature flags a partial rollback sets, e.g. partial: { flags: { QURATOR: "false" } }`,
      );
    }
    if (request.toVersion) throw new ConfigError('a partial rollback keeps the deployed version: drop --to');
    const flags = target.partial.flags;
    toVersion = `flags:${formatFlags(flags, ',')}`;
    const envFile = target.partial.envFile;
    body = [
      {
        id: 'set-flags',
        title: `Set ${formatFlags(flags)} in ${envFile}`,
        activity: 'setEnvFlags',
        retry: 'quick',
        input: { path, envFile, flags },
        // The env file comes back byte for byte from the backup, then the service re-reads it.
        undo: [
          {
            activity: 'restoreConfigFiles',
            input: { path, files: [envFile], backupPath, untrackedOnly: false },
          },
          { activity: 'restartService', input: { service, cwd: path } },
        ],
      },
      {
        id: 'restart',
        title: `Restart ${describeService(target)} with the new flags`,
        activity: 'restartService',
        retry: 'service',
        input: { service, cwd: path },
        undo: [],
      },
      ...validationSteps(target, ref('inspect.version')),
    ];
  } else {
    let checkoutRef: string | StepRef;
    let stepsBeforeStop: PlanStep[];
    if (request.kind === 'complete') {
      const commits = assertSafeCommits(request.commits);
      if (request.toVersion)
        throw new ConfigError('a complete rollback deploys the reverted branch head: drop --to');
      toVersion = `${target.deploy.branch}-revert-${commits.map((c) => c.slice(0, 12)).join('-')}`.slice(
        0,
        200,
      );
      checkoutRef = ref('revert.commit');
      stepsBeforeStop = [
        {
          id: 'revert',
          title: `Revert ${commits.join(', ')} on ${target.deploy.branch} and push`,
          activity: 'revertAndPush',
          retry: 'install', // clones and pushes: long, heartbeating
          input: {
            repoPath: path,
            remote: target.deploy.remote,
            branch: target.deploy.branch,
            commits,
            author: request.requestedBy,
            message: `Rollback ${request.rollbackId}: ${request.reason}`,
          },
          // A pushed revert is history others may have pulled: it is not undone automatically.
          undo: [],
        },
      ];
    } else {
      toVersion = request.toVersion ?? target.deploy.stableVersion;
      assertSafeVersion(toVersion);
      checkoutRef = ref('resolve.commit');
      // Read-only and before the stop: a version that does not exist fails here, service untouched.
      stepsBeforeStop = [
        {
          id: 'resolve',
          title: `Find ${toVersion} on ${target.deploy.remote}`,
          activity: 'resolveGitRef',
          retry: 'quick',
          input: { path, remote: target.deploy.remote, ref: toVersion },
          undo: [],
        },
      ];
    }
    const releaseConfigPath =
      request.kind === 'emergency' ? join(target.backupDir, 'releases', toVersion) : undefined;
    body = [
      ...stepsBeforeStop,
      {
        id: 'stop',
        title: `Stop ${describeService(target)}`,
        activity: 'stopService',
        retry: 'service',
        input: { service, cwd: path },
        undo: [{ activity: 'startService', input: { service, cwd: path } }],
      },
      {
        id: 'checkout',
        title: `Check out ${request.kind === 'complete' ? `the reverted head of ${target.deploy.branch}` : toVersion}`,
        activity: 'checkoutRef',
        retry: 'quick',
        // The release's code exactly: local edits to tracked files are saved as a patch, then dropped.
        input: {
          path,
          remote: target.deploy.remote,
          ref: checkoutRef,
          // The resolve step fetched already; a pushed revert is on the remote only.
          fetch: request.kind === 'complete',
          discardLocalChanges: true,
          backupPath,
        },
        // Back to the exact commit we found, its config files, dependencies and build.
        undo: [
          {
            activity: 'checkoutRef',
            input: {
              path,
              remote: target.deploy.remote,
              ref: ref('inspect.commit'),
              fetch: false,
              discardLocalChanges: true,
              backupPath,
            },
          },
          { activity: 'restoreConfigFiles', input: { path, files, backupPath, untrackedOnly: false } },
          install,
          ...build,
        ],
      },
      {
        id: 'install',
        title: `Install dependencies (${target.deploy.install.join(' ')})`,
        retry: 'install',
        ...install,
        undo: [],
      },
      ...build.map((b) => ({
        id: 'build',
        title: `Build (${target.deploy.build!.join(' ')})`,
        retry: 'install' as const,
        ...b,
        undo: [],
      })),
      {
        id: 'restore-config',
        title: `Restore config files${request.kind === 'emergency' ? ` of ${toVersion}` : ''}`,
        activity: 'restoreConfigFiles',
        retry: 'quick',
        input: { path, files, backupPath, releaseConfigPath, untrackedOnly: true },
        // Tracked files come back with the checkout's undo; git would refuse to switch over them.
        undo: [{ activity: 'restoreConfigFiles', input: { path, files, backupPath, untrackedOnly: true } }],
      },
      {
        id: 'start',
        title: `Start ${describeService(target)}`,
        activity: 'startService',
        retry: 'service',
        input: { service, cwd: path },
        undo: [{ activity: 'stopService', input: { service, cwd: path } }],
      },
      // A complete rollback's version is whatever the reverted head says: health only.
      ...validationSteps(target, request.kind === 'complete' ? undefined : toVersion),
    ];
  }

  const steps: PlanStep[] = [
    incidentStep(request, toVersion, target.reportsDir, [request.target, path]),
    {
      id: 'inspect',
      title: 'Inspect the deployed version',
      activity: 'inspectGitDeployment',
      retry: 'quick',
      input: { path },
      undo: [],
    },
    {
      id: 'backup',
      title: `Back up ${files.join(', ')}`,
      activity: 'backupFiles',
      retry: 'quick',
      // A partial rollback's env file is always backed up: its undo restores it from here.
      input: {
        path,
        files: [
          ...new Set([
            ...files,
            ...(target.partial && request.kind === 'partial' ? [target.partial.envFile] : []),
            ...target.logFiles,
          ]),
        ],
        backupPath,
      },
      undo: [],
    },
    ...body,
  ];

  return {
    rollbackId: request.rollbackId,
    target: request.target,
    kind: request.kind,
    toVersion,
    backupPath,
    reportsDir: target.reportsDir,
    ...policies(target, request, defaults),
    webUiBase: request.webUiBase,
    steps,
  };
}

function describeService(target: TargetConfig): string {
  return target.service.manager === 'pm2' ? `pm2 process ${target.service.name}` : 'the service';
}

/** The checks, once per validation phase; later phases wait on durable timers and pause on failure. */
function validationSteps(target: TargetConfig, expectedVersion: string | StepRef | undefined): PlanStep[] {
  const immediate = checksOnce(target, expectedVersion, '', '');
  const phases = target.validate.phases;
  const steps = [...immediate];
  const later: [string, string, number | undefined][] = [
    ['short-term', 'Short-term', phases?.shortTermAfterSeconds],
    ['long-term', 'Long-term', phases?.longTermAfterSeconds],
  ];
  for (const [id, label, after] of later) {
    if (after === undefined) continue;
    steps.push({
      id: `wait-${id}`,
      title: `Wait ${after} s for the ${id} validation phase`,
      activity: 'wait',
      retry: 'record',
      input: { seconds: after },
      undo: [],
    });
    steps.push(
      ...checksOnce(target, expectedVersion, `@${id}`, `${label}: `).map((s) => ({
        ...s,
        onFailure: 'decide' as const,
      })),
    );
  }
  return steps;
}

function checksOnce(
  target: TargetConfig,
  expectedVersion: string | StepRef | undefined,
  suffix: string,
  prefix: string,
): PlanStep[] {
  const v = target.validate;
  const steps: PlanStep[] = [];
  const versionLabel =
    typeof expectedVersion === 'string'
      ? ` and version ${expectedVersion}`
      : expectedVersion
        ? ' and version'
        : '';
  if (v.health) {
    const { expectVersion, ...health } = v.health;
    steps.push({
      id: `validate-health${suffix}`,
      title: `${prefix}Check health${expectVersion ? versionLabel : ''}`,
      activity: 'checkHealth',
      retry: 'validate',
      input: { ...health, expectedVersion: expectVersion ? expectedVersion : undefined },
      undo: [],
    });
  }
  if (v.mcp) {
    steps.push({
      id: `validate-mcp-http${suffix}`,
      title: `${prefix}Check MCP tools over HTTP${v.mcp.expectedTools !== undefined ? ` (${v.mcp.expectedTools} expected)` : ''}`,
      activity: 'checkMcp',
      retry: 'validate',
      input: {
        transport: 'http',
        cwd: target.deploy.path,
        redactEnvFiles: envFiles(target),
        ...mcpInput(v.mcp, expectedVersion),
      },
      undo: [],
    });
  }
  if (v.mcpStdio) {
    steps.push({
      id: `validate-mcp-stdio${suffix}`,
      title: `${prefix}Check MCP tools over stdio${v.mcpStdio.expectedTools !== undefined ? ` (${v.mcpStdio.expectedTools} expected)` : ''}`,
      activity: 'checkMcp',
      retry: 'validate',
      input: {
        transport: 'stdio',
        cwd: target.deploy.path,
        redactEnvFiles: envFiles(target),
        ...mcpInput(v.mcpStdio, expectedVersion),
      },
      undo: [],
    });
  }
  if (v.latency) {
    steps.push({
      id: `validate-latency${suffix}`,
      title: `${prefix}Sample latency (${v.latency.samples} requests, average under ${v.latency.maxAverageMs} ms)`,
      activity: 'checkLatency',
      retry: 'validate',
      input: { ...v.latency },
      undo: [],
    });
  }
  if (v.errorLog) {
    if (v.errorLog.pm2 && target.service.manager !== 'pm2') {
      throw new ConfigError(
        'validate.errorLog.pm2 needs service.manager pm2; name the log files in validate.errorLog.files instead',
      );
    }
    steps.push(...errorLogWindowSteps(v.errorLog, target, suffix));
  }
  return steps;
}

/** The target's env files (where its secrets live), whose values checks mask in what they report. */
function envFiles(target: TargetConfig): string[] {
  const files = target.configFiles.filter((f) => /(^|\/)\.env[^/]*$/.test(f));
  return files.length ? files : ['.env'];
}

function mcpInput<T extends { expectVersion: boolean }>(
  config: T,
  expectedVersion: string | StepRef | undefined,
) {
  const { expectVersion, ...rest } = config;
  return { ...rest, expectedVersion: expectVersion ? expectedVersion : undefined };
}

/** Human-readable plan, as `rollback plan` prints it and an approver sees it. */
export function formatPlan(plan: Plan): string {
  const lines = [`Plan ${plan.rollbackId}: ${plan.kind} rollback of ${plan.target} to ${plan.toVersion}`];
  if (plan.approval.required) {
    lines.push(
      `  needs ${plan.approval.quorum} approval(s) from: ${plan.approval.approvers.join(', ')}` +
        (plan.approval.timeoutSeconds
          ? ` (escalates after ${plan.approval.timeoutSeconds} s, then ${plan.approval.onTimeout}s)`
          : ''),
    );
  }
  plan.steps.forEach((s, i) => {
    lines.push(`  ${String(i + 1).padStart(2)}. ${s.title}  [${s.activity}, retry: ${s.retry}]`);
    if (s.undo.length > 0) lines.push(`      undo: ${s.undo.map((u) => u.activity).join(' → ')}`);
  });
  lines.push(
    `  on a step that fails for good: ${plan.onFailure.wait ? `wait up to ${plan.onFailure.timeoutSeconds} s for a decision, then ` : ''}${plan.onFailure.default}`,
    `  backups: ${plan.backupPath}`,
    `  reports: ${plan.reportsDir}`,
  );
  return lines.join('\n');
}
