import { join } from 'node:path/posix';
import { z } from 'zod';
import { parseRevisionRef, REVISION_SYNTAX } from '../ecs/task-definitions';
import { ConfigError } from './load';
import { ref, type Plan, type PlanStep, type RollbackRequest } from './plan';

/**
 * Targets deployed as an AWS ECS service: the config section and the plans of its three rollbacks.
 * Credentials are not configured here: the worker takes them from the AWS SDK's standard chain.
 */

const argv = z.array(z.string().min(1)).min(1, 'must name a program, as an argv list like ["./build.sh"]');
const absolutePath = z.string().refine((p) => p.startsWith('/'), 'must be an absolute path');
const awsName = (what: string) =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_:/.-]{0,1023}$/, `must be an ECS ${what} name or ARN`);
const regex = z.string().refine((p) => {
  try {
    new RegExp(p);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

export const ecsDeploySchema = z.strictObject({
  type: z.literal('ecs'),
  cluster: awsName('cluster'),
  service: awsName('service'),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region, like eu-west-1'),
  /** The container a complete or partial rollback changes; optional when the task has one container. */
  containerName: z.string().min(1).optional(),
  targetGroupArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/.+$/, 'must be a target group ARN')
    .optional(),
  /** Share of the target group's targets that must be healthy after the rollback (0..1). */
  minHealthyShare: z.number().min(0).max(1).default(1),
  /** CloudWatch alarms that must be OK after the rollback. */
  alarms: z.array(z.string().min(1)).default([]),
  /** An emulator's URL (moto, LocalStack) instead of AWS's own endpoints. */
  endpoint: z.url().optional(),
  /**
   * How long a deployment may take before the rollback gives up on it. At most 19 minutes: the
   * step runs under the runner's 20-minute activity timeout, and must end before it.
   */
  deadlineSeconds: z.number().int().positive().max(1140).default(600),
  /** How often the deployment is polled (and the step heartbeats); under the 15 s heartbeat timeout. */
  pollSeconds: z.number().min(0.2).max(10).default(5),
  /** Complete rollbacks: builds and pushes the reverted code; prints the image tag, last. */
  build: z
    .strictObject({
      command: argv,
      /** Defaults to git.path, which is brought to the reverted commit first. */
      cwd: absolutePath.optional(),
      /** What the tag must look like (a regular expression), e.g. "^[0-9a-f]{12}$". */
      imageTagPattern: regex.optional(),
      timeoutSeconds: z.number().int().positive().max(1140).default(1140),
    })
    .optional(),
  /** Complete rollbacks: a working copy of the service's repository on the orchestrator host. */
  git: z
    .strictObject({
      path: absolutePath,
      remote: z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/, 'must be a git remote name, like origin')
        .default('origin'),
      branch: z
        .string()
        .regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/, 'must be a branch name')
        .default('main'),
    })
    .optional(),
  /** Partial rollbacks: environment variables set on the container (e.g. QURATOR: "false"). */
  featureFlags: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'flag names are environment variable names'),
      z.string().regex(/^[^\n\r]*$/, 'must be one line'),
    )
    .default({}),
});

export type EcsDeploy = z.infer<typeof ecsDeploySchema>;

/** A rollback request; complete rollbacks name the offending commits. */
export type EcsRollbackRequest = RollbackRequest & { commits?: string[] };

/**
 * The ECS part of a plan. The approval, failure and notification policies are the same for every
 * target type, so planRollback adds them; everything here is ECS's own.
 */
export type EcsPlan = Omit<Plan, 'approval' | 'onFailure' | 'notify' | 'webUiBase'>;

const COMMIT = /^[0-9a-fA-F]{4,40}$/;
const ARN_VERSION = /^arn:aws[a-z-]*:ecs:/;

function checkCommits(commits: string[] | undefined): string[] {
  if (!commits || commits.length === 0) {
    throw new ConfigError(
      'a complete rollback needs the offending commits: --commit SHA (repeatable) or --commit A..B',
    );
  }
  for (const c of commits) {
    const parts = c.split('..');
    if (parts.length > 2 || !parts.every((p) => COMMIT.test(p))) {
      throw new ConfigError(`"${c}" is not a commit id or a range A..B of commit ids (hex, 4 to 40 characters)`);
    }
  }
  return commits;
}

function flagsText(flags: Record<string, string>): string {
  return Object.entries(flags)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/**
 * The plan of an ECS rollback. Pure: the revision numbers it cannot know yet (the previous ACTIVE
 * one, a newly registered one) are read by its steps at run time and passed on with `$ref`s.
 */
export function planEcsRollback(
  target: { deploy: EcsDeploy; reportsDir: string },
  request: EcsRollbackRequest,
): EcsPlan {
  const d = target.deploy;
  if (!/^[A-Za-z0-9._-]+$/.test(request.rollbackId)) {
    throw new ConfigError(`rollback id "${request.rollbackId}" may hold only letters, digits, . _ -`);
  }
  const aws = { region: d.region, ...(d.endpoint ? { endpoint: d.endpoint } : {}) };
  const svc = { aws, cluster: d.cluster, service: d.service };
  const serviceName = `ECS service ${d.service} (cluster ${d.cluster}, ${d.region})`;

  let toVersion: string;
  let change: PlanStep[];
  let newRevision: string;
  if (request.kind === 'emergency') {
    if (request.toVersion !== undefined && !parseRevisionRef(request.toVersion)) {
      throw new ConfigError(
        `"${request.toVersion}" is not a task-definition revision: use ${REVISION_SYNTAX}` +
          (ARN_VERSION.test(request.toVersion) ? ' (this ARN is malformed)' : ''),
      );
    }
    toVersion = request.toVersion ?? 'previous-active-revision';
    newRevision = 'resolve.taskDefinitionArn';
    change = [
      {
        id: 'resolve',
        title: request.toVersion
          ? `Check that revision ${request.toVersion} exists, is ACTIVE and of the service's family`
          : 'Find the previous ACTIVE revision of the task definition family',
        activity: 'findEcsRollbackRevision',
        retry: 'quick',
        input: {
          aws,
          currentTaskDefinitionArn: ref('inspect.taskDefinitionArn'),
          ...(request.toVersion ? { requested: request.toVersion } : {}),
        },
        undo: [],
      },
    ];
  } else if (request.kind === 'complete') {
    const commits = checkCommits(request.commits);
    if (request.toVersion) {
      throw new ConfigError('a complete rollback deploys an image built from the reverted branch: drop --to');
    }
    if (!d.git || !d.build) {
      throw new ConfigError(
        `target "${request.target}" cannot do a complete rollback: deploy.${!d.git ? 'git' : 'build'} is missing; ` +
          'add deploy.git (path of a working copy of the service repository, remote, branch) and ' +
          'deploy.build (command that builds and pushes the image and prints its tag)',
      );
    }
    toVersion = `revert-${commits.map((c) => c.slice(0, 12)).join('-')}`.slice(0, 200);
    newRevision = 'register.taskDefinitionArn';
    const git = d.git;
    const build = d.build;
    change = [
      {
        id: 'revert',
        title: `Revert ${commits.join(', ')} on ${git.branch} and push`,
        activity: 'revertAndPush',
        retry: 'quick',
        input: {
          repoPath: git.path,
          remote: git.remote,
          branch: git.branch,
          commits,
          author: request.requestedBy,
          message: `Rollback ${request.rollbackId}: revert ${commits.join(', ')}\n\n${request.reason}`,
        },
        // A pushed revert is history others may have pulled: it is not undone automatically.
        undo: [],
      },
      {
        id: 'checkout',
        title: `Check out the reverted head of ${git.branch} in ${git.path}`,
        activity: 'checkoutRef',
        retry: 'quick',
        input: { path: git.path, remote: git.remote, ref: ref('revert.commit') },
        undo: [],
      },
      {
        id: 'build',
        title: `Build and push the image (${build.command.join(' ')})`,
        activity: 'runImageBuild',
        retry: 'install',
        input: {
          argv: build.command,
          cwd: build.cwd ?? git.path,
          env: { ROLLBACK_COMMIT: ref('revert.commit'), ROLLBACK_BRANCH: git.branch, ROLLBACK_ID: request.rollbackId },
          currentImage: ref('inspect.image'),
          ...(build.imageTagPattern ? { imageTagPattern: build.imageTagPattern } : {}),
          timeoutSeconds: build.timeoutSeconds,
        },
        undo: [],
      },
      {
        id: 'register',
        title: 'Register a revision that differs from the current one only in the new image',
        activity: 'registerEcsTaskDefinitionVariant',
        retry: 'quick',
        input: {
          aws,
          sourceTaskDefinitionArn: ref('inspect.taskDefinitionArn'),
          containerName: ref('inspect.containerName'),
          image: ref('build.image'),
        },
        undo: [],
      },
    ];
  } else {
    if (request.toVersion) throw new ConfigError('a partial rollback keeps the deployed image: drop --to');
    const flags = d.featureFlags;
    if (Object.keys(flags).length === 0) {
      throw new ConfigError(
        `target "${request.target}" has no deploy.featureFlags; add the variables a partial rollback sets, e.g. featureFlags: { QURATOR: "false" }`,
      );
    }
    toVersion = `flags:${Object.entries(flags)
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}`.slice(0, 200);
    newRevision = 'register.taskDefinitionArn';
    change = [
      {
        id: 'register',
        title: `Register a revision that differs from the current one only in ${flagsText(flags)}`,
        activity: 'registerEcsTaskDefinitionVariant',
        retry: 'quick',
        input: {
          aws,
          sourceTaskDefinitionArn: ref('inspect.taskDefinitionArn'),
          containerName: ref('inspect.containerName'),
          environment: flags,
        },
        undo: [],
      },
    ];
  }

  const checks: PlanStep[] = [
    {
      id: 'validate-service',
      title: 'Check the service is stable on the new revision, running = desired',
      activity: 'checkEcsService',
      retry: 'validate',
      input: { ...svc, taskDefinitionArn: ref(newRevision) },
      undo: [],
    },
  ];
  if (d.targetGroupArn) {
    checks.push({
      id: 'validate-targets',
      title: `Check load balancer targets (at least ${Math.round(d.minHealthyShare * 100)}% healthy)`,
      activity: 'checkTargetGroupHealth',
      retry: 'validate',
      input: { aws, targetGroupArn: d.targetGroupArn, minHealthyShare: d.minHealthyShare },
      undo: [],
    });
  }
  if (d.alarms.length > 0) {
    checks.push({
      id: 'validate-alarms',
      title: `Check alarms are OK (${d.alarms.join(', ')})`,
      activity: 'checkCloudWatchAlarms',
      retry: 'validate',
      input: { aws, alarms: d.alarms },
      undo: [],
    });
  }

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
        affectedSystems: [request.target, serviceName],
      },
      undo: [],
    },
    {
      id: 'inspect',
      title: `Inspect ${serviceName}`,
      activity: 'inspectEcsService',
      retry: 'quick',
      input: {
        ...svc,
        ...(d.containerName ? { containerName: d.containerName } : {}),
        needContainer: request.kind !== 'emergency',
      },
      undo: [],
    },
    ...change,
    {
      id: 'update',
      title: `Update ${serviceName} to the new revision (forced new deployment)`,
      activity: 'updateEcsService',
      retry: 'service',
      input: { ...svc, taskDefinitionArn: ref(newRevision) },
      // Back to the exact revision the service ran when the rollback started.
      undo: [{ activity: 'updateEcsService', input: { ...svc, taskDefinitionArn: ref('inspect.taskDefinitionArn') } }],
    },
    {
      id: 'wait-deployment',
      title: `Wait for the deployment to complete (deadline ${d.deadlineSeconds} s)`,
      activity: 'waitForEcsDeployment',
      // The 'install' class: a long start-to-close timeout with a short heartbeat timeout.
      retry: 'install',
      input: {
        ...svc,
        taskDefinitionArn: ref(newRevision),
        deploymentId: ref('update.deploymentId'),
        deadlineSeconds: d.deadlineSeconds,
        pollSeconds: d.pollSeconds,
      },
      undo: [],
    },
    ...checks,
  ];

  return {
    rollbackId: request.rollbackId,
    target: request.target,
    kind: request.kind,
    toVersion,
    // Nothing is copied off a host: the starting revision stays registered in ECS, and the inspect
    // step records it. The rollback's own folder holds its reports.
    backupPath: join(target.reportsDir, request.rollbackId),
    reportsDir: target.reportsDir,
    steps,
  };
}
