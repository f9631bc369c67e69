import { existsSync, statSync } from 'node:fs';
import { programProblem } from '../../preflight';
import type { HostProbe } from '../kind';
import { backupDirProbe, programProbe, serviceProgramProbes } from '../shared';
import { packageDir, type NpmPackageTarget } from './schema';

/** Read-only checks of what an npm-package target names on this host, run before anything starts. */
export function npmPackagePreflight(name: string, target: NpmPackageTarget): string[] {
  // Another host's paths and programs are checked there, not on this machine.
  if (target.host) return [];
  const problems: string[] = [];
  const { prefix, package: pkg } = target.deploy;
  const dir = packageDir(target);
  if (!existsSync(prefix) || !statSync(prefix).isDirectory()) {
    problems.push(
      `target "${name}": deploy.prefix ${prefix} is not a folder; give the prefix the package is installed under (npm prefix -g)`,
    );
  } else if (!existsSync(dir)) {
    problems.push(
      `target "${name}": ${pkg} is not installed under deploy.prefix ${prefix} (no ${dir}); install it there or fix deploy.prefix`,
    );
  }
  const service = target.service;
  const programs: [string, string[] | undefined, string][] = [
    ['npm', ['npm'], dir],
    ...(service.manager === 'command'
      ? (['start', 'stop', 'status'] as const).map((verb): [string, string[], string] => [
          `service.${verb}`,
          service[verb],
          service.cwd ?? dir,
        ])
      : []),
    ['validate.mcpStdio.command', target.validate.mcpStdio?.command, dir],
  ];
  for (const [field, argv, cwd] of programs) {
    if (!existsSync(cwd)) continue; // named above
    const problem = argv && programProblem(field, argv, cwd);
    if (problem) problems.push(`target "${name}": ${problem}`);
  }
  return problems;
}

/** What `config check` and `start` ask an npm-package target's SSH host. */
export function npmPackageHostProbes(target: NpmPackageTarget, login: string): HostProbe[] {
  const { prefix, package: pkg } = target.deploy;
  const dir = packageDir(target);
  return [
    {
      argv: ['test', '-f', `${dir}/package.json`],
      ok: `${pkg} is installed in ${dir}`,
      problem: `${pkg} is not installed in ${dir} (or the login ${login} cannot read it); install it under deploy.prefix ${prefix} or fix the prefix`,
      fatal: true,
    },
    {
      argv: ['test', '-w', dir, '-a', '-w', `${prefix}/lib/node_modules`],
      problem: `the login ${login} cannot write ${dir}: an install would fail; log in as the user who owns the prefix`,
    },
    backupDirProbe(target.backupDir),
    programProbe('npm', 'npm', dir),
    ...serviceProgramProbes(target.service, target.validate.mcpStdio?.command, dir),
  ];
}
