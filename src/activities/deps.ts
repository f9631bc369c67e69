import { hostLabel, type HostSpec } from '../model';
import { LOCAL_HOST } from '../runner/local-host';
import type { Host } from '../runner/types';
import { awsClients, type AwsClients } from './ecs/aws';

/**
 * What activities need from the world, built once by the worker (and by the drill), so tests can
 * pass fakes of their own and a new kind of host is one new branch of `onHost`.
 */
export interface ActivityDeps {
  /**
   * Opens the target's host for one activity attempt and closes it after: this machine (no host,
   * or a host whose own worker runs the step), or one SSH connection.
   */
  onHost<T>(on: HostSpec | undefined, work: (host: Host) => Promise<T>): Promise<T>;
  /** The worker's environment: notification URLs named by `urlEnv` are read from here. */
  env: Readonly<Record<string, string | undefined>>;
  /** AWS SDK clients, made per call so the credential chain is read when an activity runs. */
  aws: AwsClients;
}

export function openHost(env: Readonly<Record<string, string | undefined>>) {
  return async <T>(on: HostSpec | undefined, work: (host: Host) => Promise<T>): Promise<T> => {
    // A step sent to a host's own worker runs there, on that worker's machine.
    if (!on || 'worker' in on) return work(LOCAL_HOST);
    // Loaded on demand (ssh2 is not needed for local targets); `require`, as in cli/lazy.ts, so
    // tsx and the compiled CLI load the same CommonJS module.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SshRunner } = require('../runner/ssh') as typeof import('../runner/ssh');
    return new SshRunner(on.ssh, env).withSession((session) =>
      work({
        runner: session,
        files: session.files(),
        local: false,
        label: hostLabel(on),
        fetch: session.fetch(),
        spawn: (argv, options) => session.spawn(argv, options),
      }),
    );
  };
}

export function defaultDeps(overrides: Partial<ActivityDeps> = {}): ActivityDeps {
  const env = overrides.env ?? process.env;
  return {
    onHost: openHost(env),
    env,
    aws: awsClients,
    ...overrides,
  };
}
