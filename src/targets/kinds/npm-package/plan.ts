import { join } from 'node:path/posix';
import {
  ANALYZE_STEP,
  envFileOf,
  ref,
  type ActivityCall,
  type PlanStep,
  type RollbackRequest,
} from '../../../model';
import { ConfigError } from '../../errors';
import { validationSteps } from '../../validation/steps';
import {
  backupStep,
  partialPlan,
  serviceChecks,
  startStep,
  stopStep,
  type HostService,
} from '../host-service';
import type { KindPlan, KindPlanner } from '../kind';
import { acceptedFindings, assertSafeVersion, plannersOnTargetHost } from '../shared';
import { EXACT_VERSION, packageDir, type NpmPackageTarget } from './schema';

/** The plans of a service installed from an npm registry: emergency and partial. */

function hostService(target: NpmPackageTarget): HostService {
  return {
    service: target.service,
    path: packageDir(target),
    configFiles: target.configFiles,
    logFiles: target.logFiles,
    validate: target.validate,
    partial: target.partial,
  };
}

function basics(target: NpmPackageTarget, request: RollbackRequest) {
  const d = target.deploy;
  return {
    dir: packageDir(target),
    backupPath: join(target.backupDir, request.rollbackId),
    pkg: { name: d.package, prefix: d.prefix, ...(d.registry ? { registry: d.registry } : {}) },
  };
}

function inspect(target: NpmPackageTarget, request: RollbackRequest): PlanStep {
  return {
    id: 'inspect',
    title: `Inspect the installed ${target.deploy.package}`,
    role: 'inspect',
    reportsVersion: 'from',
    activity: 'inspectNpmPackage',
    retry: 'quick',
    input: basics(target, request).pkg,
    undo: [],
  };
}

function backup(target: NpmPackageTarget, request: RollbackRequest): PlanStep {
  return backupStep(hostService(target), basics(target, request).backupPath);
}

/** An exact version, without the `v` npm does not use: `v1.11.4` and `1.11.4` name one release. */
function exactVersion(version: string): string {
  assertSafeVersion(version);
  if (!EXACT_VERSION.test(version)) {
    throw new ConfigError(
      `"${version}" is not an exact version: an npm-package rollback installs one published version, like 1.11.4 (not a range or a dist-tag)`,
    );
  }
  return version.replace(/^v/, '');
}

/** Stop, install the known-good version, put the config files back, start, check. */
const emergency: KindPlanner<NpmPackageTarget> = (target, request): KindPlan => {
  const toVersion = exactVersion(request.toVersion ?? target.deploy.stableVersion);
  const { dir, backupPath, pkg } = basics(target, request);
  const service = hostService(target);
  const files = target.configFiles;
  const restore = (): ActivityCall => ({
    activity: 'restoreConfigFiles',
    input: { path: dir, files, backupPath, untrackedOnly: false },
    retry: 'quick',
  });
  return {
    toVersion,
    backupPath,
    affected: [dir],
    steps: [
      inspect(target, request),
      // Read-only: a version the registry does not have, or the one installed, is refused here.
      {
        id: 'resolve',
        title: `Find ${pkg.name}@${toVersion} in the registry`,
        role: 'check',
        activity: 'resolveNpmVersion',
        retry: 'quick',
        input: { ...pkg, version: toVersion, current: ref('inspect.version'), force: request.force === true },
        undo: [],
      },
      {
        id: ANALYZE_STEP,
        title: 'Analyse what the rollback changes (dependencies, env keys, migrations)',
        role: 'check',
        activity: 'analyzeNpmPackageRollback',
        retry: 'quick',
        input: {
          target: request.target,
          accept: acceptedFindings(target, request),
          ...pkg,
          dir: ref('inspect.dir'),
          toVersion,
          dependencies: ref('resolve.dependencies'),
          envFile: envFileOf(files),
          envExamples: target.analysis.envExamples,
          migrations: target.analysis.migrations,
        },
        undo: [],
      },
      backup(target, request),
      stopStep(service),
      {
        id: 'install',
        title: `Install ${pkg.name}@${toVersion}`,
        role: 'change',
        activity: 'installNpmPackage',
        retry: 'install',
        input: { ...pkg, version: toVersion },
        // The version that ran, and its config files (an install replaces the package's folder).
        undo: [
          {
            activity: 'installNpmPackage',
            input: { ...pkg, version: ref('inspect.version') },
            retry: 'install',
          },
          restore(),
        ],
      },
      {
        id: 'restore-config',
        title: `Restore ${files.join(', ')} into the installed package`,
        role: 'change',
        ...restore(),
        undo: [],
      },
      startStep(service),
      ...validationSteps(serviceChecks(service), toVersion),
    ],
  };
};

const complete: KindPlanner<NpmPackageTarget> = (_target, request) => {
  throw new ConfigError(
    `target "${request.target}" is an npm package: a complete rollback reverts commits on a git branch, which it has none of; ` +
      'install a known-good version instead: rollback start emergency (--to VERSION)',
  );
};

const partial: KindPlanner<NpmPackageTarget> = (target, request) =>
  partialPlan(hostService(target), request, basics(target, request).backupPath, inspect(target, request));

/** Every planner's host steps go where the target lives (`host:`). */
export const npmPackagePlanners = plannersOnTargetHost<NpmPackageTarget>({ emergency, complete, partial });
