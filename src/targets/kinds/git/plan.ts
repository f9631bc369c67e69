import { join } from 'node:path/posix';
import {
  envFilesOf,
  ref,
  type ActivityCall,
  type PlanStep,
  type RollbackRequest,
  type StepRef,
} from '../../../model';
import { ConfigError } from '../../errors';
import { validationSteps, type ServiceChecks } from '../../validation/steps';
import type { KindPlan, KindPlanner } from '../kind';
import {
  assertSafeCommits,
  assertSafeVersion,
  formatFlags,
  placeOnHost,
  refuseTo,
  revertLabel,
} from '../shared';
import type { GitTarget } from './schema';

/** The plans of a git-deployed service's three rollbacks. */

function describeService(target: GitTarget): string {
  return target.service.manager === 'pm2' ? `pm2 process ${target.service.name}` : 'the service';
}

/** What a git target's service checks need: paths, env files, and its pm2 process if any. */
export function serviceChecks(target: GitTarget): ServiceChecks {
  const s = target.service;
  return {
    validate: target.validate,
    cwd: target.deploy.path,
    envFiles: envFilesOf(target.configFiles),
    ...(s.manager === 'pm2' ? { pm2: { name: s.name, ...(s.pm2Home ? { pm2Home: s.pm2Home } : {}) } } : {}),
  };
}

function basics(target: GitTarget, request: RollbackRequest) {
  const path = target.deploy.path;
  const backupPath = join(target.backupDir, request.rollbackId);
  const svc = { service: { ...target.service }, cwd: path };
  const install: ActivityCall = {
    activity: 'runInstall',
    input: { path, argv: target.deploy.install },
    retry: 'install',
  };
  const build: ActivityCall[] = target.deploy.build
    ? [{ activity: 'runBuild', input: { path, argv: target.deploy.build }, retry: 'install' }]
    : [];
  return { path, backupPath, svc, install, build, files: target.configFiles };
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

/** Back up the config files (and the partial env file, and the logs) before anything changes. */
function backup(target: GitTarget, request: RollbackRequest, extraFiles: string[] = []): PlanStep {
  const { path, backupPath, files } = basics(target, request);
  return {
    id: 'backup',
    title: `Back up ${files.join(', ')}`,
    role: 'backup',
    activity: 'backupFiles',
    retry: 'quick',
    input: { path, files: [...new Set([...files, ...extraFiles, ...target.logFiles])], backupPath },
    undo: [],
  };
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
  const { path, backupPath, svc, install, build, files } = basics(target, request);
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
    {
      id: 'stop',
      title: `Stop ${describeService(target)}`,
      role: 'stop',
      activity: 'stopService',
      retry: 'service',
      input: svc,
      undo: [{ activity: 'startService', input: svc, retry: 'service' }],
    },
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
    {
      id: 'start',
      title: `Start ${describeService(target)}`,
      role: 'start',
      activity: 'startService',
      retry: 'service',
      input: svc,
      undo: [{ activity: 'stopService', input: svc, retry: 'service' }],
    },
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
const partial: KindPlanner<GitTarget> = (target, request): KindPlan => {
  if (!target.partial) {
    throw new ConfigError(
      `target "${request.target}" has no \`partial:\` section; add the feature flags a partial rollback sets, e.g. partial: { flags: { QURATOR: "false" } }`,
    );
  }
  refuseTo(request, 'a partial rollback keeps the deployed version');
  const { path, backupPath, svc } = basics(target, request);
  const { flags, envFile } = target.partial;
  return {
    toVersion: `flags:${formatFlags(flags, ',')}`,
    backupPath,
    affected: [path],
    steps: [
      inspect(target),
      // The env file is always backed up: the flags' undo restores it from there.
      backup(target, request, [envFile]),
      {
        id: 'set-flags',
        title: `Set ${formatFlags(flags)} in ${envFile}`,
        role: 'change',
        activity: 'setEnvFlags',
        retry: 'quick',
        input: { path, envFile, flags },
        // The env file comes back byte for byte from the backup, then the service re-reads it.
        undo: [
          {
            activity: 'restoreConfigFiles',
            input: { path, files: [envFile], backupPath, untrackedOnly: false },
            retry: 'quick',
          },
          { activity: 'restartService', input: svc, retry: 'service' },
        ],
      },
      {
        id: 'restart',
        title: `Restart ${describeService(target)} with the new flags`,
        role: 'start',
        activity: 'restartService',
        retry: 'service',
        input: svc,
        undo: [],
      },
      ...validationSteps(serviceChecks(target), ref('inspect.version')),
    ],
  };
};

/** Every planner's host steps go where the target lives (`host:`). */
const onTargetHost =
  (planner: KindPlanner<GitTarget>): KindPlanner<GitTarget> =>
  (target, request) => {
    const plan = planner(target, request);
    return { ...plan, steps: placeOnHost(plan.steps, target.host) };
  };

export const gitPlanners = {
  emergency: onTargetHost(emergency),
  complete: onTargetHost(complete),
  partial: onTargetHost(partial),
};
