import { envFilesOf, ref, type PlanStep, type RollbackRequest } from '../../model';
import { ConfigError } from '../errors';
import type { ValidationConfig } from '../validation/schema';
import { validationSteps, type ServiceChecks } from '../validation/steps';
import type { ServiceConfig } from './git/schema';
import type { KindPlan } from './kind';
import { formatFlags, refuseTo } from './shared';

/**
 * Steps of a service a process manager runs on a host from a folder (a git working copy, an
 * installed npm package): the same stop, start, checks and partial rollback whatever put it there.
 */

export interface HostService {
  service: ServiceConfig;
  /** The folder it runs from: relative paths, config and env files resolve there. */
  path: string;
  configFiles: string[];
  /** Backed up with the config files (a rollback's record of what was logged before). */
  logFiles: string[];
  validate: ValidationConfig;
  partial?: { envFile: string; flags: Record<string, string> };
}

export function describeService(service: ServiceConfig): string {
  return service.manager === 'pm2' ? `pm2 process ${service.name}` : 'the service';
}

/** The input of every service step: the manager's settings and the folder. */
export function serviceInput(s: HostService) {
  return { service: { ...s.service }, cwd: s.path };
}

/** What the checks need: paths, env files, and the pm2 process if any. */
export function serviceChecks(s: HostService): ServiceChecks {
  const svc = s.service;
  return {
    validate: s.validate,
    cwd: s.path,
    envFiles: envFilesOf(s.configFiles),
    ...(svc.manager === 'pm2'
      ? { pm2: { name: svc.name, ...(svc.pm2Home ? { pm2Home: svc.pm2Home } : {}) } }
      : {}),
  };
}

/** Back up the config files (and `extraFiles`, and the logs) before anything changes. */
export function backupStep(s: HostService, backupPath: string, extraFiles: string[] = []): PlanStep {
  return {
    id: 'backup',
    title: `Back up ${s.configFiles.join(', ')}`,
    role: 'backup',
    activity: 'backupFiles',
    retry: 'quick',
    input: {
      path: s.path,
      files: [...new Set([...s.configFiles, ...extraFiles, ...s.logFiles])],
      backupPath,
    },
    undo: [],
  };
}

export function stopStep(s: HostService): PlanStep {
  const svc = serviceInput(s);
  return {
    id: 'stop',
    title: `Stop ${describeService(s.service)}`,
    role: 'stop',
    activity: 'stopService',
    retry: 'service',
    input: svc,
    undo: [{ activity: 'startService', input: svc, retry: 'service' }],
  };
}

export function startStep(s: HostService): PlanStep {
  const svc = serviceInput(s);
  return {
    id: 'start',
    title: `Start ${describeService(s.service)}`,
    role: 'start',
    activity: 'startService',
    retry: 'service',
    input: svc,
    undo: [{ activity: 'stopService', input: svc, retry: 'service' }],
  };
}

/**
 * Keep the deployed version; set feature flags in the env file and restart. `inspect` reports the
 * version (kept).
 */
export function partialPlan(
  s: HostService,
  request: RollbackRequest,
  backupPath: string,
  inspect: PlanStep,
): KindPlan {
  if (!s.partial) {
    throw new ConfigError(
      `target "${request.target}" has no \`partial:\` section; add the feature flags a partial rollback sets, e.g. partial: { flags: { QURATOR: "false" } }`,
    );
  }
  refuseTo(request, 'a partial rollback keeps the deployed version');
  const path = s.path;
  const svc = serviceInput(s);
  const { flags, envFile } = s.partial;
  return {
    toVersion: `flags:${formatFlags(flags, ',')}`,
    backupPath,
    affected: [path],
    steps: [
      inspect,
      // The env file is always backed up: the flags' undo restores it from there.
      backupStep(s, backupPath, [envFile]),
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
        title: `Restart ${describeService(s.service)} with the new flags`,
        role: 'start',
        activity: 'restartService',
        retry: 'service',
        input: svc,
        undo: [],
      },
      ...validationSteps(serviceChecks(s), ref('inspect.version')),
    ],
  };
}
