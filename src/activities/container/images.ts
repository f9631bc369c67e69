import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tail, type Host } from '../../runner/types';
import { done, heartbeat, permanent, retryable, type StepResult } from '../common';
import {
  call,
  engineMessage,
  engineOf,
  follow,
  imageOrNull,
  isMissing,
  unreachable,
  where,
  type EngineInput,
} from './engine';

/** The tag of an image reference (`registry:5000/app:1.2` → `1.2`), or the reference itself. */
export function tagOf(ref: string): string {
  const at = ref.indexOf('@');
  if (at >= 0) return ref.slice(at + 1);
  const m = /:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(ref);
  return m && !m[1]!.includes('/') ? m[1]! : 'latest';
}

/**
 * Makes the stable image present: pulled from its registry (`pull: always`, or `missing` when the
 * engine lacks it), or found on the engine (`never`: images loaded or built on the host). Refuses
 * an image the service already runs (unless forced). Changes nothing the service sees.
 */
export async function prepareImage(
  input: {
    engine: EngineInput;
    image: string;
    pull: 'always' | 'missing' | 'never';
    currentImageId?: string;
    force?: boolean;
  },
  host: Host,
): Promise<StepResult<{ imageId: string; pulled: boolean }>> {
  const docker = engineOf(input.engine, host);
  let local = await imageOrNull(docker, input.engine, input.image);
  let pulled = false;
  if (input.pull === 'always' || (!local && input.pull === 'missing')) {
    try {
      await call(input.engine, `pulling ${input.image}`, async () =>
        follow(docker, await docker.pull(input.image), () => heartbeat({ pull: input.image })),
      );
      pulled = true;
    } catch (err) {
      if (!isMissing(err) && !/not found|manifest unknown|does not exist/i.test(engineMessage(err)))
        throw err;
      if (!local) {
        throw permanent(
          `the registry has no image ${input.image} (${engineMessage(err).slice(0, 200)}); give a tag it has (nothing was changed)`,
          'ImageNotFound',
        );
      }
    }
    local = await imageOrNull(docker, input.engine, input.image);
  }
  if (!local) {
    throw permanent(
      `the engine at ${where(input.engine)} has no image ${input.image}` +
        (input.pull === 'never'
          ? ' and deploy.pull is never; build or load it on the host first, or allow pulls (nothing was changed)'
          : '; give a tag it has (nothing was changed)'),
      'ImageNotFound',
    );
  }
  if (input.currentImageId && local.Id === input.currentImageId && !input.force) {
    throw permanent(
      `${input.image} is the image the container already runs (${local.Id.slice(7, 19)}); nothing to roll back to (--force to recreate it anyway)`,
      'AlreadyOnVersion',
    );
  }
  return done(`${input.image} (${local.Id.slice(7, 19)}) ${pulled ? 'pulled' : 'is on the engine'}`, {
    imageId: local.Id,
    pulled,
  });
}

/**
 * Builds the image of a commit: a clone of the repository at that commit (on the host), sent to the
 * engine as the build context. Tagged `image:revert-<commit>`; a tag already there is reused.
 */
export async function buildContainerImage(
  input: { engine: EngineInput; repo: string; commit: string; image: string; dockerfile: string },
  host: Host,
): Promise<StepResult<{ image: string }>> {
  if (!host.local) {
    throw permanent('images are built by a worker on the host (host: { worker: NAME })', 'BadInput');
  }
  const docker = engineOf(input.engine, host);
  const tag = `${input.image}:revert-${input.commit.slice(0, 12)}`;
  if (await imageOrNull(docker, input.engine, tag)) return done(`${tag} is already built`, { image: tag });
  const dir = await mkdtemp(join(tmpdir(), 'rollback-build-'));
  try {
    const git = (args: string[]) =>
      host.runner.run(['git', ...args], { timeoutMs: 300_000, onTick: () => heartbeat({ build: 'clone' }) });
    const clone = await git(['clone', '--quiet', '--no-checkout', input.repo, dir]);
    if (clone.exitCode !== 0)
      throw retryable(`git clone ${input.repo} failed: ${tail(clone.stderr, 4)}`, 'GitFailed');
    const co = await git(['-C', dir, 'checkout', '--quiet', input.commit]);
    if (co.exitCode !== 0)
      throw permanent(`git checkout ${input.commit} failed: ${tail(co.stderr, 4)}`, 'GitFailed');
    const src = (await readdir(dir)).filter((f) => f !== '.git');
    let output = '';
    try {
      const stream = await docker.buildImage({ context: dir, src }, { t: tag, dockerfile: input.dockerfile });
      await follow(docker, stream, (event) => {
        output += event.stream ?? '';
        heartbeat({ build: tag });
      });
    } catch (err) {
      throw (
        unreachable(err, input.engine) ??
        permanent(
          `building ${tag} from ${input.commit.slice(0, 12)} failed: ${engineMessage(err)}; ${tail(output, 4)}`,
          'BuildFailed',
        )
      );
    }
    if (!(await imageOrNull(docker, input.engine, tag))) {
      throw permanent(`the build of ${tag} ended without the image: ${tail(output, 4)}`, 'BuildFailed');
    }
    return done(`built ${tag} from ${input.commit.slice(0, 12)}`, { image: tag });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
