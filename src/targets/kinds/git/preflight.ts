import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { programProblem } from '../../preflight';
import type { HostProbe } from '../kind';
import { backupDirProbe, programProbe, serviceProgramProbes } from '../shared';
import type { GitTarget } from './schema';

/** Read-only checks of what a git target names on this host, run before anything is started. */
export function gitPreflight(name: string, target: GitTarget): string[] {
  // Another host's paths and programs are checked there (checkGitHost), not on this machine.
  if (target.host) return [];
  const problems: string[] = [];
  const path = target.deploy.path;
  if (!existsSync(path)) {
    problems.push(
      `target "${name}": deploy.path ${path} does not exist; deploy the service there or fix the path`,
    );
  } else if (!statSync(path).isDirectory()) {
    problems.push(`target "${name}": deploy.path ${path} is not a directory`);
  } else if (!existsSync(resolve(path, '.git'))) {
    problems.push(
      `target "${name}": deploy.path ${path} is not a git working copy (no .git); deploy.type git needs one`,
    );
  }
  // Every program the rollback will start, where the runner starts it.
  const service = target.service;
  const serviceCwd = service.manager === 'command' ? (service.cwd ?? path) : path;
  const programs: [string, string[] | undefined, string][] = [
    ['deploy.install', target.deploy.install, path],
    ['deploy.build', target.deploy.build, path],
    ...(service.manager === 'command'
      ? (['start', 'stop', 'status'] as const).map((verb): [string, string[], string] => [
          `service.${verb}`,
          service[verb],
          serviceCwd,
        ])
      : []),
    ['validate.mcpStdio.command', target.validate.mcpStdio?.command, path],
  ];
  if (service.manager === 'command' && service.cwd && !existsSync(service.cwd)) {
    problems.push(`target "${name}": service.cwd ${service.cwd} does not exist; fix the path`);
  }
  for (const [field, argv, cwd] of programs) {
    const problem = argv && programProblem(field, argv, cwd);
    if (problem) problems.push(`target "${name}": ${problem}`);
  }
  return problems;
}

/** What `config check` and `start` ask a git target's SSH host. */
export function gitHostProbes(target: GitTarget, login: string): HostProbe[] {
  const path = target.deploy.path;
  return [
    {
      argv: ['test', '-d', `${path}/.git`],
      ok: `${path} is a git working copy`,
      problem: `deploy.path ${path} is not a git working copy the login ${login} can read; deploy it there or fix the path`,
      fatal: true,
    },
    {
      argv: ['test', '-w', path],
      problem: `the login cannot write deploy.path ${path}; log in as the user who owns it`,
    },
    backupDirProbe(target.backupDir),
    programProbe('git', 'git', path),
    programProbe('deploy.install', target.deploy.install[0]!, path),
    ...(target.deploy.build ? [programProbe('deploy.build', target.deploy.build[0]!, path)] : []),
    ...serviceProgramProbes(target.service, target.validate.mcpStdio?.command, path),
  ];
}
