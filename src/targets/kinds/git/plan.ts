import { join } from 'node:path/posix';
import {
  ANALYZE_STEP,
  envFileOf,
  ref,
  type ActivityCall,
  type PlanStep,
  type RollbackRequest,
  type StepRef,
} from '../../../model';
import { validationSteps, type ServiceChecks } from '../../validation/steps';
import {
  backupStep,
  partialPlan,
  serviceChecks as sharedServiceChecks,
  startStep,
  stopStep,
  type HostService,
} from '../host-service';
import type { KindPlan, KindPlanner } from '../kind';
import {
  acceptedFindings,
  assertSafeCommits,
  assertSafeVersion,
  plannersOnTargetHost,
  refuseTo,
  revertLabel,
} from '../shared';
import type { GitTarget } from './schema';

/** The plans of a git-deployed service's three rollbacks. */

/** The service as the shared host-service steps see it. */
function hostService(target: GitTarget): HostService {
  return {
    service: target.service,
    path: target.deploy.path,
    configFiles: target.configFiles,
    logFiles: target.logFiles,
    validate: target.validate,
    partial: target.partial,
  };
}

/** What a git target's service checks need: paths, env files, and its pm2 process if any. */
export function serviceChecks(target: GitTarget): ServiceChecks {
  return sharedServiceChecks(hostService(target));
}

function basics(target: GitTarget, request: RollbackRequest) {
  const path = target.deploy.path;
  const backupPath = join(target.backupDir, request.rollbackId);
  const install: ActivityCall = {
    activity: 'runInstall',
    input: { path, argv: target.deploy.install },
    retry: 'install',
  };
  const build: ActivityCall[] = target.deploy.build
    ? [{ activity: 'runBuild', input: { path, argv: target.deploy.build }, retry: 'install' }]
    : [];
  return { path, backupPath, install, build, files: target.configFiles };
}

/** Look at what runs: the commit, its tag, whether the tree has local changes. Read-only. */
function inspect(target: GitTarget): PlanStep {
  return {
    id: 'inspect',
    title: 'Inspect the deployed version',
    role: 'inspect',
    reportsVersion: 'from',
    activity: 'inspectGitDeployment',
    retry: 'quick',
    input: { path: target.deploy.path },
    undo: [],
  };
}

/**
 * Read-only: what the rollback changes (dependencies, env keys, migrations, commits), from git
 * objects in the working copy. A block finding nobody accepted refuses the rollback here.
 */
function analyze(
  target: GitTarget,
  request: RollbackRequest,
  versions: { to: StepRef; releaseConfigPath?: string } | { commits: string[] },
): PlanStep {
  return {
    id: ANALYZE_STEP,
    title: 'Analyse what the rollback changes (dependencies, env keys, migrations)',
    role: 'check',
    activity: 'analyzeGitRollback',
    retry: 'quick',
    input: {
      target: request.target,
      accept: acceptedFindings(target, request),
      path: target.deploy.path,
      from: ref('inspect.commit'),
      ...versions,
      lockFile: 'package-lock.json',
      install: target.deploy.install,
      envFile: envFileOf(target.configFiles),
      envExamples: target.analysis.envExamples,
      migrations: target.analysis.migrations,
    },
    undo: [],
  };
}

/** Back up the config files (and the partial env file, and the logs) before anything changes. */
function backup(target: GitTarget, request: RollbackRequest): PlanStep {
  return backupStep(hostService(target), basics(target, request).backupPath);
}

/** Stop, check out, install, build, restore the host's config, start: the runbook's redeploy. */
function redeploy(
  target: GitTarget,
  request: RollbackRequest,
  checkout: {
    ref: string | StepRef;
    title: string;
    fetch: boolean;
    /** Emergency rollbacks: the config saved when that release was deployed wins over the backup. */
    releaseConfig?: { path: string; version: string };
  },
): PlanStep[] {
  const { path, backupPath, install, build, files } = basics(target, request);
  const remote = target.deploy.remote;
  const checkoutInput = (at: string | StepRef, fetch: boolean) => ({
    path,
    remote,
    ref: at,
    fetch,
    discardLocalChanges: true,
    backupPath,
  });
  return [
    stopStep(hostService(target)),
    {
      id: 'checkout',
      title: checkout.title,
      role: 'change',
      activity: 'checkoutRef',
      retry: 'quick',
      // The release's code exactly: local edits to tracked files are saved as a patch, then dropped.
      input: checkoutInput(checkout.ref, checkout.fetch),
      // Back to the exact commit we found, its config files, dependencies and build.
      undo: [
        { activity: 'checkoutRef', input: checkoutInput(ref('inspect.commit'), false), retry: 'quick' },
        {
          activity: 'restoreConfigFiles',
          input: { path, files, backupPath, untrackedOnly: false },
          retry: 'quick',
        },
        install,
        ...build,
      ],
    },
    {
      id: 'install',
      title: `Install dependencies (${target.deploy.install.join(' ')})`,
      role: 'change',
      ...install,
      undo: [],
    },
    ...build.map((b): PlanStep => ({
      id: 'build',
      title: `Build (${target.deploy.build!.join(' ')})`,
      role: 'change',
      ...b,
      undo: [],
    })),
    {
      id: 'restore-config',
      title: `Restore config files${checkout.releaseConfig ? ` of ${checkout.releaseConfig.version}` : ''}`,
      role: 'change',
      activity: 'restoreConfigFiles',
      retry: 'quick',
      input: {
        path,
        files,
        backupPath,
        releaseConfigPath: checkout.releaseConfig?.path,
        untrackedOnly: true,
      },
      // Tracked files come back with the checkout's undo; git would refuse to switch over them.
      undo: [
        {
          activity: 'restoreConfigFiles',
          input: { path, files, backupPath, untrackedOnly: true },
          retry: 'quick',
        },
      ],
    },
    startStep(hostService(target)),
  ];
}

/** Back to a known-good tag: the stable version, or `--to`. */
const emergency: KindPlanner<GitTarget> = (target, request): KindPlan => {
  const toVersion = request.toVersion ?? target.deploy.stableVersion;
  assertSafeVersion(toVersion);
  const { path, backupPath } = basics(target, request);
  return {
    toVersion,
    backupPath,
    affected: [path],
    steps: [
      inspect(target),
      // Read-only: a version that does not exist, or the one already running, is refused here.
      {
        id: 'resolve',
        title: `Find ${toVersion} on ${target.deploy.remote}`,
        role: 'check',
        activity: 'resolveGitRef',
        retry: 'quick',
        input: {
          path,
          remote: target.deploy.remote,
          ref: toVersion,
          current: { commit: ref('inspect.commit'), dirty: ref('inspect.dirty') },
          force: request.force === true,
        },
        undo: [],
      },
      analyze(target, request, {
        to: ref('resolve.commit'),
        releaseConfigPath: join(target.backupDir, 'releases', toVersion),
      }),
      backup(target, request),
      ...redeploy(target, request, {
        ref: ref('resolve.commit'),
        title: `Check out ${toVersion}`,
        // The resolve step fetched already.
        fetch: false,
        releaseConfig: { path: join(target.backupDir, 'releases', toVersion), version: toVersion },
      }),
      ...validationSteps(serviceChecks(target), toVersion),
    ],
  };
};

/** Revert the offending commits on the branch, push, and deploy the reverted head. */
const complete: KindPlanner<GitTarget> = (target, request): KindPlan => {
  const commits = assertSafeCommits(request.commits);
  refuseTo(request, 'a complete rollback deploys the reverted branch head');
  const { path, backupPath } = basics(target, request);
  const branch = target.deploy.branch;
  return {
    toVersion: revertLabel(`${branch}-`, commits),
    backupPath,
    affected: [path],
    steps: [
      inspect(target),
      // Read-only: a branch the remote lacks, or a commit not on it, is refused here.
      {
        id: 'check-commits',
        title: `Find ${commits.join(', ')} on ${branch} of ${target.deploy.remote}`,
        role: 'check',
        activity: 'checkRevertCommits',
        retry: 'quick',
        input: { path, remote: target.deploy.remote, branch, commits },
        undo: [],
      },
      analyze(target, request, { commits }),
      backup(target, request),
      {
        id: 'revert',
        title: `Revert ${commits.join(', ')} on ${branch} and push`,
        role: 'change',
        activity: 'revertAndPush',
        retry: 'install', // clones and pushes: long, heartbeating
        input: {
          repoPath: path,
          remote: target.deploy.remote,
          branch,
          commits,
          author: request.requestedBy,
          message: `Rollback ${request.rollbackId}: ${request.reason}`,
        },
        // A pushed revert is history others may have pulled: it is not undone automatically.
        undo: [],
      },
      // A pushed revert is on the remote only: the checkout fetches.
      ...redeploy(target, request, {
        ref: ref('revert.commit'),
        title: `Check out the reverted head of ${branch}`,
        fetch: true,
      }),
      // The reverted head's version is whatever it says: health only.
      ...validationSteps(serviceChecks(target), undefined),
    ],
  };
};

/** Keep the deployed version; set feature flags in the env file and restart. */
const partial: KindPlanner<GitTarget> = (target, request): KindPlan =>
  partialPlan(hostService(target), request, basics(target, request).backupPath, inspect(target));

/** Every planner's host steps go where the target lives (`host:`). */
export const gitPlanners = plannersOnTargetHost<GitTarget>({ emergency, complete, partial });
