import { existsSync } from 'node:fs';
import { programProblem } from '../../preflight';
import type { HostProbe } from '../kind';
import { programProbe } from '../shared';
import type { BlueGreenTarget } from './schema';

function programs(target: BlueGreenTarget): [string, string[] | undefined][] {
  const d = target.deploy;
  const sw = d.switch;
  return [
    ...('nginx' in sw
      ? [['deploy.switch.nginx.command', sw.nginx.command] as [string, string[]]]
      : (['blue', 'green', 'active'] as const).map((k): [string, string[]] => [
          `deploy.switch.command.${k}`,
          sw.command[k],
        ])),
    ['deploy.blue.stop', d.blue.stop],
    ['deploy.green.stop', d.green.stop],
  ];
}

/** Read-only checks of what a blue-green target names on this host, run before anything starts. */
export function blueGreenPreflight(name: string, target: BlueGreenTarget): string[] {
  if (target.host) return [];
  const problems: string[] = [];
  const sw = target.deploy.switch;
  if ('nginx' in sw && !existsSync(sw.nginx.upstreamFile)) {
    problems.push(
      `target "${name}": deploy.switch.nginx.upstreamFile ${sw.nginx.upstreamFile} does not exist; create it (upstream ${sw.nginx.upstream} { server HOST:PORT; }) and include it from nginx's configuration`,
    );
  }
  for (const [field, argv] of programs(target)) {
    const problem = argv && programProblem(field, argv, '/');
    if (problem) problems.push(`target "${name}": ${problem}`);
  }
  return problems;
}

/** What `config check` and `start` ask the switch's SSH host. */
export function blueGreenHostProbes(target: BlueGreenTarget, login: string): HostProbe[] {
  const sw = target.deploy.switch;
  return [
    ...('nginx' in sw
      ? [
          {
            argv: ['test', '-w', sw.nginx.upstreamFile],
            ok: `${sw.nginx.upstreamFile} is there and the login may rewrite it`,
            problem: `the login ${login} cannot write deploy.switch.nginx.upstreamFile ${sw.nginx.upstreamFile}; create it, writable by the login`,
          },
        ]
      : []),
    ...programs(target).flatMap(([field, argv]) => (argv ? [programProbe(field, argv[0]!)] : [])),
  ];
}
