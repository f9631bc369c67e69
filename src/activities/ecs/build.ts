import { tail } from '../../runner/types';
import { cancellationSignal, done, heartbeat, permanent, type StepResult } from '../common';
import type { ActivityDeps } from '../deps';
import { imageFromBuildOutput, VariantError } from './task-definitions';

/** Complete rollbacks of ECS services: build and push the reverted code's image. */
export function ecsBuildActivities(deps: Pick<ActivityDeps, 'aws' | 'onHost'>) {
  /**
   * Runs the target's build-and-push command on this host and reads the image it produced from the
   * last line it prints. The reverted commit is passed as ROLLBACK_COMMIT; re-running a build of the
   * same commit is expected to be harmless (it pushes the same image).
   */
  async function runImageBuild(input: {
    argv: string[];
    cwd?: string;
    env?: Record<string, string>;
    currentImage: string;
    imageTagPattern?: string;
    timeoutSeconds?: number;
  }): Promise<StepResult<{ image: string; tag: string }>> {
    // ECS targets have no host: the build runs where the worker runs.
    const r = await deps.onHost(undefined, (host) =>
      host.runner.run(input.argv, {
        cwd: input.cwd,
        env: input.env,
        timeoutMs: (input.timeoutSeconds ?? 1140) * 1000,
        onTick: () => heartbeat({ running: input.argv[0] }),
        signal: cancellationSignal(),
      }),
    );
    if (r.exitCode !== 0) {
      throw new Error(
        `build command ${input.argv.join(' ')} exited ${r.exitCode}: ${tail(r.stderr || r.stdout, 10)}`,
      );
    }
    try {
      const { image, tag } = imageFromBuildOutput(r.stdout, input.currentImage, input.imageTagPattern);
      return done(`built and pushed ${image}`, { image, tag });
    } catch (err) {
      if (err instanceof VariantError) throw permanent(err.message, 'BuildOutput');
      throw err;
    }
  }

  return { runImageBuild };
}
