import { basename, dirname, join } from 'node:path/posix';
import { ANALYZE_STEP, ref, type ActivityCall, type PlanStep, type RollbackRequest } from '../../../model';
import { ConfigError } from '../../errors';
import { validationSteps } from '../../validation/steps';
import type { KindPlan, KindPlanner } from '../kind';
import { acceptedFindings, assertSafeCommits, plannersOnTargetHost, refuseTo, revertLabel } from '../shared';
import { TAG, type ContainerTarget } from './schema';

/** The plans of a service run as a container: emergency (a known-good tag) and complete (a rebuild). */

function basics(target: ContainerTarget, request: RollbackRequest) {
  const d = target.deploy;
  const backupPath = join(target.backupDir, request.rollbackId);
  return {
    d,
    engine: { ...d.engine },
    backupPath,
    /** Where the replaced container is kept, stopped, for investigation. */
    keptName: keptName(d.container, request.rollbackId),
    /** The env file as backed up: what the new container gets. */
    envBackup: target.envFile ? join(backupPath, 'files', basename(target.envFile)) : undefined,
  };
}

/** `lightdash-mcp-rolled-back-20261123-085000-ab12`: the name the replaced container keeps. */
export function keptName(container: string, rollbackId: string): string {
  const stamp =
    /(\d{8}-\d{6}-[0-9a-f]+)$/.exec(rollbackId)?.[1] ?? rollbackId.replace(/[^A-Za-z0-9_.-]/g, '-');
  return `${container}-rolled-back-${stamp}`.slice(0, 128);
}

function inspect(target: ContainerTarget, request: RollbackRequest): PlanStep {
  const { d, engine } = basics(target, request);
  return {
    id: 'inspect',
    title: `Inspect the container ${d.container}`,
    role: 'inspect',
    reportsVersion: 'from',
    activity: 'inspectContainer',
    retry: 'quick',
    input: { engine, container: d.container },
    undo: [],
  };
}

function backup(target: ContainerTarget, request: RollbackRequest): PlanStep[] {
  if (!target.envFile) return [];
  return [
    {
      id: 'backup',
      title: `Back up ${target.envFile}`,
      role: 'backup',
      activity: 'backupFiles',
      retry: 'quick',
      input: {
        path: dirname(target.envFile),
        files: [basename(target.envFile)],
        backupPath: basics(target, request).backupPath,
      },
      undo: [],
    },
  ];
}

/**
 * Stop and keep the running container, run `image` under its name with its settings, wait for it
 * to stay up (and healthy), check it. Undo: remove the new one, give the old one its name back.
 */
function replace(
  target: ContainerTarget,
  request: RollbackRequest,
  image: string | ReturnType<typeof ref>,
): PlanStep[] {
  const { d, engine, keptName: kept, envBackup } = basics(target, request);
  const restore: ActivityCall = {
    activity: 'restoreKeptContainer',
    input: { engine, container: d.container, id: ref('inspect.id'), keptName: kept },
    retry: 'quick',
  };
  return [
    {
      id: 'stop',
      title: `Stop ${d.container} and keep it as ${kept}`,
      role: 'stop',
      activity: 'stopAndRenameContainer',
      retry: 'service',
      input: {
        engine,
        container: d.container,
        id: ref('inspect.id'),
        keptName: kept,
        stopTimeoutSeconds: d.stopTimeoutSeconds,
      },
      undo: [restore],
    },
    {
      id: 'start',
      title: `Run ${typeof image === 'string' ? image : 'the rebuilt image'} as ${d.container}`,
      role: 'start',
      activity: 'createStableContainer',
      retry: 'service',
      input: {
        engine,
        container: d.container,
        keptName: kept,
        image,
        rollbackId: request.rollbackId,
        ...(envBackup ? { envFile: envBackup } : {}),
      },
      undo: [
        {
          activity: 'removeRollbackContainer',
          input: { engine, container: d.container, rollbackId: request.rollbackId },
          retry: 'quick',
        },
      ],
    },
    {
      id: 'wait-healthy',
      title: `Wait for ${d.container} to stay up (and healthy)`,
      role: 'validate',
      activity: 'waitContainerHealthy',
      retry: 'quick',
      input: { engine, container: d.container, timeoutSeconds: d.healthTimeoutSeconds },
      undo: [],
    },
  ];
}

function checks(target: ContainerTarget) {
  return {
    validate: target.validate,
    cwd: target.envFile ? dirname(target.envFile) : '/',
    envFiles: target.envFile ? [basename(target.envFile)] : [],
  };
}

function exactTag(tag: string): string {
  if (!TAG.test(tag)) {
    throw new ConfigError(
      `"${tag}" is not an image tag: give a tag like 1.11.4 (letters, digits, _ . -, not starting with . or -)`,
    );
  }
  return tag;
}

/** Run the known-good tag in place of the running container. */
const emergency: KindPlanner<ContainerTarget> = (target, request): KindPlan => {
  const tag = exactTag(request.toVersion ?? target.deploy.stableTag);
  const { d, engine, backupPath } = basics(target, request);
  const image = `${d.image}:${tag}`;
  return {
    toVersion: tag,
    backupPath,
    affected: [`container ${d.container}`],
    steps: [
      inspect(target, request),
      // Read-only for the service: an image the registry and the engine lack is refused here.
      {
        id: 'image',
        title: `Make ${image} present on the engine`,
        role: 'check',
        activity: 'prepareImage',
        retry: 'quick',
        input: {
          engine,
          image,
          pull: d.pull,
          currentImageId: ref('inspect.imageId'),
          force: request.force === true,
        },
        undo: [],
      },
      {
        id: ANALYZE_STEP,
        title: 'Analyse what the rollback changes (image, env keys, ports)',
        role: 'check',
        activity: 'analyzeContainerRollback',
        retry: 'quick',
        input: {
          target: request.target,
          accept: acceptedFindings(target, request),
          engine,
          container: d.container,
          image,
        },
        undo: [],
      },
      ...backup(target, request),
      ...replace(target, request, image),
      ...validationSteps(checks(target), tag),
    ],
  };
};

/** Revert the commits on the source branch, build the reverted head's image, run it. */
const complete: KindPlanner<ContainerTarget> = (target, request): KindPlan => {
  const commits = assertSafeCommits(request.commits);
  refuseTo(request, 'a complete rollback runs an image built from the reverted branch');
  const { d, engine, backupPath } = basics(target, request);
  const source = d.source;
  if (!source) {
    throw new ConfigError(
      `target "${request.target}" has no deploy.source: a complete rollback rebuilds the image from the reverted branch; ` +
        'add deploy.source (repo, branch, dockerfile), or run a known-good tag: rollback start emergency',
    );
  }
  return {
    toVersion: revertLabel(`${source.branch}-`, commits),
    backupPath,
    affected: [`container ${d.container}`, `branch ${source.branch} of ${source.repo}`],
    steps: [
      inspect(target, request),
      ...backup(target, request),
      {
        id: 'revert',
        title: `Revert ${commits.join(', ')} on ${source.branch} and push`,
        role: 'change',
        activity: 'revertAndPush',
        retry: 'install',
        input: {
          remoteUrl: source.repo,
          branch: source.branch,
          commits,
          author: request.requestedBy,
          message: `Rollback ${request.rollbackId}: ${request.reason}`,
        },
        // A pushed revert is history others may have pulled: it is not undone automatically.
        undo: [],
      },
      {
        id: 'build',
        title: `Build ${d.image} from the reverted head`,
        role: 'change',
        activity: 'buildContainerImage',
        retry: 'install',
        input: {
          engine,
          repo: source.repo,
          commit: ref('revert.commit'),
          image: d.image,
          dockerfile: source.dockerfile,
        },
        undo: [],
      },
      ...replace(target, request, ref('build.image')),
      ...validationSteps(checks(target), undefined),
    ],
  };
};

const partial: KindPlanner<ContainerTarget> = (_target, request) => {
  throw new ConfigError(
    `target "${request.target}" is a container: a partial rollback (feature flags) is not built for containers yet; ` +
      'run a known-good tag instead: rollback start emergency (--to TAG)',
  );
};

/** Every planner's host steps go where the engine is (`host:`). */
export const containerPlanners = plannersOnTargetHost<ContainerTarget>({ emergency, complete, partial });
