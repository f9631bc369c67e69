import { join } from 'node:path/posix';
import { parseRevisionRef, REVISION_SYNTAX } from '../ecs/task-definitions';
import type { EcsDeploy } from './ecs-schema';
import { ConfigError } from './load';
import {
  assertSafeCommits,
  formatFlags,
  incidentStep,
  ref,
  type Plan,
  type PlanStep,
  type RollbackRequest,
} from './plan';

/**
 * Targets deployed as an AWS ECS service: the plans of their three rollbacks. Their config section
 * lives in ./ecs-schema (re-exported here), which the config schema imports without a cycle.
 */

export { ecsDeploySchema, type EcsDeploy } from './ecs-schema';

/**
 * The ECS part of a plan. The approval, failure and notification policies are the same for every
 * target type, so planRollback adds them; everything here is ECS's own.
 */
export type EcsPlan = Omit<Plan, 'approval' | 'onFailure' | 'notify' | 'webUiBase'>;

const ARN_VERSION = /^arn:aws[a-z-]*:ecs:/;

/**
 * The plan of an ECS rollback. Pure: the revision numbers it cannot know yet (the previous ACTIVE
 * one, a newly registered one) are read by its steps at run time and passed on with `$ref`s.
 */
export function planEcsRollback(
  target: { deploy: EcsDeploy; reportsDir: string },
  request: RollbackRequest,
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
    const commits = assertSafeCommits(request.commits);
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
        retry: 'install', // clones and pushes: long, heartbeating
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
          env: {
            ROLLBACK_COMMIT: ref('revert.commit'),
            ROLLBACK_BRANCH: git.branch,
            ROLLBACK_ID: request.rollbackId,
          },
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
    toVersion = `flags:${formatFlags(flags, ',')}`.slice(0, 200);
    newRevision = 'register.taskDefinitionArn';
    change = [
      {
        id: 'register',
        title: `Register a revision that differs from the current one only in ${formatFlags(flags)}`,
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
    incidentStep(request, toVersion, target.reportsDir, [request.target, serviceName]),
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
      undo: [
        {
          activity: 'updateEcsService',
          input: { ...svc, taskDefinitionArn: ref('inspect.taskDefinitionArn') },
        },
      ],
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
