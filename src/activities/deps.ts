import type { Runner } from '../runner/types';
import { localRunner } from '../runner/local';
import { awsClients, type AwsClients } from './ecs/aws';

/**
 * What activities need from the world, built once by the worker (and by the drill), so tests can
 * pass fakes of their own and a new kind of host is one new runner.
 */
export interface ActivityDeps {
  /** Where a target's commands run: this host today; the seam an SSH runner fills. */
  runnerFor(host?: string): Runner;
  /** The worker's environment: notification URLs named by `urlEnv` are read from here. */
  env: Readonly<Record<string, string | undefined>>;
  /** AWS SDK clients, made per call so the credential chain is read when an activity runs. */
  aws: AwsClients;
}

export function defaultDeps(overrides: Partial<ActivityDeps> = {}): ActivityDeps {
  return {
    runnerFor: () => localRunner,
    env: process.env,
    aws: awsClients,
    ...overrides,
  };
}
