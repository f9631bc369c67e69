import { join } from 'node:path/posix';
import { ANALYZE_STEP, ref, type PlanStep, type RollbackRequest, type StepRef } from '../../../model';
import { ConfigError } from '../../errors';
import type { KindPlan, KindPlanner } from '../kind';
import { acceptedFindings, assertSafeCommits, formatFlags, refuseTo, revertLabel } from '../shared';
import { parseRevisionRef, REVISION_SYNTAX } from './revision';
import type { EcsTarget } from './schema';

/**
 * The plans of an ECS service's three rollbacks. Pure: the revision numbers a plan cannot know yet
 * (the previous ACTIVE one, a newly registered one) are read by its steps at run time and passed
 * on with `$ref`s.
 */

const ARN_VERSION = /^arn:aws[a-z-]*:ecs:/;

function service(target: EcsTarget) {
  const d = target.deploy;
  const aws = { region: d.region, ...(d.endpoint ? { endpoint: d.endpoint } : {}) };
  return { aws, svc: { aws, cluster: d.cluster, service: d.service } };
}

function serviceName(target: EcsTarget): string {
  const d = target.deploy;
  return `ECS service ${d.service} (cluster ${d.cluster}, ${d.region})`;
}

/**
 * Inspect, the kind's own change, then point the service at the new revision, wait for the
 * deployment and check the service, its load balancer targets and its alarms.
 */
function ecsPlan(
  target: EcsTarget,
  request: RollbackRequest,
  toVersion: string,
  change: PlanStep[],
  newRevision: string,
): KindPlan {
  const d = target.deploy;
  const { aws, svc } = service(target);
  const name = serviceName(target);
  const checks: PlanStep[] = [
    {
      id: 'validate-service',
      title: 'Check the service is stable on the new revision, running = desired',
      role: 'validate',
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
      role: 'validate',
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
      role: 'validate',
      activity: 'checkCloudWatchAlarms',
      retry: 'validate',
      input: { aws, alarms: d.alarms },
      undo: [],
    });
  }
  return {
    toVersion,
    // Nothing is copied off a host: the starting revision stays registered in ECS, and the inspect
    // step records it. The rollback's own folder holds its reports.
    backupPath: join(target.reportsDir, request.rollbackId),
    affected: [name],
    steps: [
      {
        id: 'inspect',
        title: `Inspect ${name}`,
        role: 'inspect',
        reportsVersion: 'from',
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
        title: `Update ${name} to the new revision (forced new deployment)`,
        role: 'change',
        activity: 'updateEcsService',
        retry: 'service',
        input: { ...svc, taskDefinitionArn: ref(newRevision) },
        // Back to the exact revision the service ran when the rollback started.
        undo: [
          {
            activity: 'updateEcsService',
            input: { ...svc, taskDefinitionArn: ref('inspect.taskDefinitionArn') },
            retry: 'service',
          },
        ],
      },
      {
        id: 'wait-deployment',
        title: `Wait for the deployment to complete (deadline ${d.deadlineSeconds} s)`,
        role: 'start',
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
    ],
  };
}

/** A registration that differs from the running revision only in the container's image or env. */
function registerVariant(
  title: string,
  change: { image: StepRef } | { environment: Record<string, string> },
  target: EcsTarget,
): PlanStep {
  return {
    id: 'register',
    title,
    role: 'change',
    reportsVersion: 'to',
    activity: 'registerEcsTaskDefinitionVariant',
    retry: 'quick',
    input: {
      aws: service(target).aws,
      sourceTaskDefinitionArn: ref('inspect.taskDefinitionArn'),
      containerName: ref('inspect.containerName'),
      ...change,
    },
    undo: [],
  };
}

/** Back to the previous ACTIVE revision of the family, or the one `--to` names. */
const emergency: KindPlanner<EcsTarget> = (target, request) => {
  if (request.toVersion !== undefined && !parseRevisionRef(request.toVersion)) {
    throw new ConfigError(
      `"${request.toVersion}" is not a task-definition revision: use ${REVISION_SYNTAX}` +
        (ARN_VERSION.test(request.toVersion) ? ' (this ARN is malformed)' : ''),
    );
  }
  const { aws } = service(target);
  const resolve: PlanStep = {
    id: 'resolve',
    title: request.toVersion
      ? `Check that revision ${request.toVersion} exists, is ACTIVE and of the service's family`
      : 'Find the previous ACTIVE revision of the task definition family',
    role: 'check',
    reportsVersion: 'to',
    activity: 'findEcsRollbackRevision',
    retry: 'quick',
    input: {
      aws,
      currentTaskDefinitionArn: ref('inspect.taskDefinitionArn'),
      ...(request.toVersion ? { requested: request.toVersion } : {}),
      ...(request.force ? { force: true } : {}),
    },
    undo: [],
  };
  const analyze: PlanStep = {
    id: ANALYZE_STEP,
    title: 'Analyse what the rollback changes (task definitions compared)',
    role: 'check',
    activity: 'analyzeEcsRollback',
    retry: 'quick',
    input: {
      target: request.target,
      accept: acceptedFindings(target, request),
      aws,
      currentTaskDefinitionArn: ref('inspect.taskDefinitionArn'),
      targetTaskDefinitionArn: ref('resolve.taskDefinitionArn'),
    },
    undo: [],
  };
  return ecsPlan(
    target,
    request,
    request.toVersion ?? 'previous-active-revision',
    [resolve, analyze],
    'resolve.taskDefinitionArn',
  );
};

/** Revert the offending commits, build and push an image, and deploy a revision with it. */
const complete: KindPlanner<EcsTarget> = (target, request) => {
  const commits = assertSafeCommits(request.commits);
  refuseTo(request, 'a complete rollback deploys an image built from the reverted branch');
  const d = target.deploy;
  if (!d.git || !d.build) {
    throw new ConfigError(
      `target "${request.target}" cannot do a complete rollback: deploy.${!d.git ? 'git' : 'build'} is missing; ` +
        'add deploy.git (path of a working copy of the service repository, remote, branch) and ' +
        'deploy.build (command that builds and pushes the image and prints its tag)',
    );
  }
  const { git, build } = d;
  const change: PlanStep[] = [
    {
      id: 'revert',
      title: `Revert ${commits.join(', ')} on ${git.branch} and push`,
      role: 'change',
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
      role: 'change',
      activity: 'checkoutRef',
      retry: 'quick',
      input: { path: git.path, remote: git.remote, ref: ref('revert.commit') },
      undo: [],
    },
    {
      id: 'build',
      title: `Build and push the image (${build.command.join(' ')})`,
      role: 'change',
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
    registerVariant(
      'Register a revision that differs from the current one only in the new image',
      { image: ref('build.image') },
      target,
    ),
  ];
  return ecsPlan(target, request, revertLabel('', commits), change, 'register.taskDefinitionArn');
};

/** Keep the image; register a revision with only the feature flags changed, and deploy it. */
const partial: KindPlanner<EcsTarget> = (target, request) => {
  refuseTo(request, 'a partial rollback keeps the deployed image');
  const flags = target.deploy.featureFlags;
  if (Object.keys(flags).length === 0) {
    throw new ConfigError(
      `target "${request.target}" has no deploy.featureFlags; add the variables a partial rollback sets, e.g. featureFlags: { QURATOR: "false" }`,
    );
  }
  const register = registerVariant(
    `Register a revision that differs from the current one only in ${formatFlags(flags)}`,
    { environment: flags },
    target,
  );
  return ecsPlan(
    target,
    request,
    `flags:${formatFlags(flags, ',')}`.slice(0, 200),
    [register],
    'register.taskDefinitionArn',
  );
};

export const ecsPlanners = { emergency, complete, partial };
