import { z } from 'zod';
import { absolutePath, commonTargetFields } from '../../common';
import { hostSchema } from '../../host';
import { validationSchema } from '../../validation/schema';

/**
 * A service run as a container on a host's engine (Docker, or podman's Docker-compatible API):
 * the container's name, the image repository it runs from, and the tag known to be good. A rollback
 * replaces the container with one of the stable image, with the same settings.
 */

/** A Docker tag: what follows the colon of `repository:tag`. */
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Docker's rule for a container name. */
export const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** An image repository, registry and path included, without tag or digest (`localhost:5000/team/app`). */
const REPOSITORY =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

const containerDeploySchema = z.strictObject({
  type: z.literal('container'),
  /** The running container's name (`docker ps`). */
  container: z.string().regex(CONTAINER_NAME, 'must be a container name, like lightdash-mcp'),
  /** The image repository, without a tag: `lightdash-mcp`, `registry.internal:5000/team/lightdash-mcp`. */
  image: z
    .string()
    .regex(
      REPOSITORY,
      'must be an image repository without a tag, like registry.internal:5000/team/lightdash-mcp',
    ),
  stableTag: z
    .string()
    .regex(TAG, 'must be an image tag, like 1.11.4')
    .describe('the known-good tag an emergency rollback runs'),
  /** always: pull the tag; missing: pull only when the engine lacks it; never: images loaded or built on the host. */
  pull: z.enum(['always', 'missing', 'never']).default('missing'),
  /** The engine's API socket on the host; absent: DOCKER_HOST of the worker, or /var/run/docker.sock. */
  engine: z.strictObject({ socket: absolutePath.optional() }).default({}),
  stopTimeoutSeconds: z.number().int().min(0).max(600).default(10),
  /** How long the new container has to stay up (and be healthy, when its image has a healthcheck). */
  healthTimeoutSeconds: z.number().positive().max(3600).default(60),
  /** Complete rollbacks: the repository the image is built from, its branch and Dockerfile. */
  source: z
    .strictObject({
      repo: z.string().min(1).describe('a git URL or path git can clone and push to'),
      branch: z
        .string()
        .regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/, 'must be a branch name')
        .default('main'),
      dockerfile: z
        .string()
        .regex(/^(?!\/)(?!.*\.\.)[A-Za-z0-9._/-]+$/, 'must be a path inside the repository, like Dockerfile')
        .default('Dockerfile'),
    })
    .optional(),
});

export const containerTargetSchema = z
  .strictObject({
    ...commonTargetFields,
    /** The engine's host: local (default) or { worker: NAME } (a worker there talks to its socket). */
    host: hostSchema,
    deploy: containerDeploySchema,
    /** The env file the container runs with (`--env-file`): backed up, and applied to the new one. */
    envFile: absolutePath.optional(),
    backupDir: absolutePath,
    /** Checks of the new container (through its published ports); no log window. */
    validate: validationSchema.omit({ errorLog: true }).default({}),
  })
  .superRefine((t, ctx) => {
    if (t.host && 'ssh' in t.host) {
      ctx.addIssue({
        code: 'custom',
        path: ['host'],
        message:
          'a container target reaches its engine through a worker on the host, not over SSH: ' +
          'run `rollback worker --host NAME` there and say host: { worker: NAME }',
      });
    }
  });

export type ContainerTarget = z.infer<typeof containerTargetSchema>;
