import { z } from 'zod';
import {
  absolutePath,
  argvList,
  commonTargetFields,
  envFlagsSchema,
  gitRemoteName,
  regexSchema,
} from '../../common';
import { httpUrl } from '../../url';

/**
 * A service on AWS ECS: no host, no process manager; the deploy section says everything.
 * Credentials are not configured here: the worker takes them from the AWS SDK's standard chain.
 */

const awsName = (what: string) =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_:/.-]{0,1023}$/, `must be an ECS ${what} name or ARN`);
export const ecsDeploySchema = z.strictObject({
  type: z.literal('ecs'),
  cluster: awsName('cluster'),
  service: awsName('service'),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region, like eu-west-1'),
  /** The container a complete or partial rollback changes; optional when the task has one container. */
  containerName: z.string().min(1).optional(),
  targetGroupArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/.+$/,
      'must be a target group ARN',
    )
    .optional(),
  /** Share of the target group's targets that must be healthy after the rollback (0..1). */
  minHealthyShare: z.number().min(0).max(1).default(1),
  /** CloudWatch alarms that must be OK after the rollback. */
  alarms: z.array(z.string().min(1)).default([]),
  /** An emulator's URL (moto, LocalStack) instead of AWS's own endpoints. */
  endpoint: httpUrl('http://127.0.0.1:5000').optional(),
  /**
   * How long a deployment may take before the rollback gives up on it. At most 19 minutes: the
   * step runs under the runner's 20-minute activity timeout, and must end before it.
   */
  deadlineSeconds: z.number().int().positive().max(1140).default(600),
  /** How often the deployment is polled (and the step heartbeats); under the 15 s heartbeat timeout. */
  pollSeconds: z.number().min(0.2).max(10).default(5),
  /** Complete rollbacks: builds and pushes the reverted code; prints the image tag, last. */
  build: z
    .strictObject({
      command: argvList('["./build-and-push.sh"]'),
      /** Defaults to git.path, which is brought to the reverted commit first. */
      cwd: absolutePath.optional(),
      /** What the tag must look like (a regular expression), e.g. "^[0-9a-f]{12}$". */
      imageTagPattern: regexSchema.optional(),
      timeoutSeconds: z.number().int().positive().max(1140).default(1140),
    })
    .optional(),
  /** Complete rollbacks: a working copy of the service's repository on the orchestrator host. */
  git: z
    .strictObject({
      path: absolutePath,
      remote: gitRemoteName,
      branch: z
        .string()
        .regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/, 'must be a branch name')
        .default('main'),
    })
    .optional(),
  /** Partial rollbacks: environment variables set on the container (e.g. QURATOR: "false"). */
  featureFlags: envFlagsSchema.default({}),
});

export type EcsDeploy = z.infer<typeof ecsDeploySchema>;

export const ecsTargetSchema = z.strictObject({ ...commonTargetFields, deploy: ecsDeploySchema });
export type EcsTarget = z.infer<typeof ecsTargetSchema>;
