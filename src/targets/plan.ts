import { join } from 'node:path/posix';
import type { TargetConfig } from './schema';
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
  reason: string;
  impact?: string;
  requestedBy: string;
  /** ISO timestamp, taken by the client: planning itself never reads the clock. */
  requestedAt: string;
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
}

export interface Plan {
  rollbackId: string;
  target: string;
  kind: RollbackKind;
  toVersion: string;
  /** Where the pre-rollback config files are kept (on the target host). */
  backupPath: string;
  reportsDir: string;
  steps: PlanStep[];
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

export function planRollback(target: TargetConfig, request: RollbackRequest): Plan {
  if (request.kind !== 'emergency') {
    throw new ConfigError(
      `rollback kind "${request.kind}" is not available yet for target "${request.target}"; use emergency`,
    );
  }
  const toVersion = request.toVersion ?? target.deploy.stableVersion;
  assertSafeVersion(toVersion);
  if (!/^[A-Za-z0-9._-]+$/.test(request.rollbackId)) {
    throw new ConfigError(`rollback id "${request.rollbackId}" may hold only letters, digits, . _ -`);
  }

  const path = target.deploy.path;
  const service = { ...target.service };
  const backupPath = join(target.backupDir, request.rollbackId);
  const releaseConfigPath = join(target.backupDir, 'releases', toVersion);
  const files = target.configFiles;

  const install: ActivityCall = { activity: 'runInstall', input: { path, argv: target.deploy.install } };
  const build: ActivityCall[] = target.deploy.build
    ? [{ activity: 'runBuild', input: { path, argv: target.deploy.build } }]
    : [];

  const steps: PlanStep[] = [
    {
      id: 'incident',
      title: 'Record the incident',
      activity: 'recordIncident',
      retry: 'record',
      input: {
        reportsDir: target.reportsDir,
        rollbackId: request.rollbackId,
        target: request.target,
        kind: request.kind,
        toVersion,
        reason: request.reason,
        impact: request.impact ?? 'not stated',
        requestedBy: request.requestedBy,
        requestedAt: request.requestedAt,
        affectedSystems: [request.target, path],
      },
      undo: [],
    },
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
      input: { path, files: [...files, ...target.logFiles], backupPath },
      undo: [],
    },
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
      title: `Check out ${toVersion}`,
      activity: 'checkoutRef',
      retry: 'quick',
      input: { path, remote: target.deploy.remote, ref: toVersion },
      // Back to the exact commit we found, then its dependencies and build.
      undo: [
        {
          activity: 'checkoutRef',
          input: { path, remote: target.deploy.remote, ref: ref('inspect.commit'), fetch: false },
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
      title: `Restore config files of ${toVersion}`,
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
    ...validationSteps(target, toVersion),
  ];

  return {
    rollbackId: request.rollbackId,
    target: request.target,
    kind: request.kind,
    toVersion,
    backupPath,
    reportsDir: target.reportsDir,
    steps,
  };
}

function describeService(target: TargetConfig): string {
  return target.service.manager === 'pm2' ? `pm2 process ${target.service.name}` : 'the service';
}

function validationSteps(target: TargetConfig, toVersion: string): PlanStep[] {
  const v = target.validate;
  const steps: PlanStep[] = [];
  if (v.health) {
    steps.push({
      id: 'validate-health',
      title: `Check health${v.health.expectVersion ? ` and version ${toVersion}` : ''}`,
      activity: 'checkHealth',
      retry: 'validate',
      input: { ...v.health, expectedVersion: v.health.expectVersion ? toVersion : undefined },
      undo: [],
    });
  }
  if (v.mcp) {
    steps.push({
      id: 'validate-mcp-http',
      title: `Check MCP tools over HTTP${v.mcp.expectedTools !== undefined ? ` (${v.mcp.expectedTools} expected)` : ''}`,
      activity: 'checkMcp',
      retry: 'validate',
      input: { transport: 'http', ...v.mcp },
      undo: [],
    });
  }
  if (v.mcpStdio) {
    steps.push({
      id: 'validate-mcp-stdio',
      title: `Check MCP tools over stdio${v.mcpStdio.expectedTools !== undefined ? ` (${v.mcpStdio.expectedTools} expected)` : ''}`,
      activity: 'checkMcp',
      retry: 'validate',
      input: { transport: 'stdio', cwd: target.deploy.path, ...v.mcpStdio },
      undo: [],
    });
  }
  if (v.latency) {
    steps.push({
      id: 'validate-latency',
      title: `Sample latency (${v.latency.samples} requests, average under ${v.latency.maxAverageMs} ms)`,
      activity: 'checkLatency',
      retry: 'validate',
      input: { ...v.latency },
      undo: [],
    });
  }
  return steps;
}

/** Human-readable plan, as `rollback plan` prints it and an approver sees it. */
export function formatPlan(plan: Plan): string {
  const lines = [`Plan ${plan.rollbackId}: ${plan.kind} rollback of ${plan.target} to ${plan.toVersion}`];
  plan.steps.forEach((s, i) => {
    lines.push(`  ${String(i + 1).padStart(2)}. ${s.title}  [${s.activity}, retry: ${s.retry}]`);
    if (s.undo.length > 0) lines.push(`      undo: ${s.undo.map((u) => u.activity).join(' → ')}`);
  });
  lines.push(`  backups: ${plan.backupPath}`, `  reports: ${plan.reportsDir}`);
  return lines.join('\n');
}
