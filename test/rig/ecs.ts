/**
 * The ECS rig: moto's server standing in for AWS, the worker's AWS environment pointed at nothing
 * but dummy credentials, and services seeded in moto the way a team's deploys would leave them.
 */
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DeregisterTaskDefinitionCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
  type ContainerDefinition,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { join } from 'node:path';
import { Cleanup } from './cleanup';
import { MOTO_RUNNING_TASKS, startMoto, type Moto } from './moto';

/** Dummy credentials for moto, through the SDK's standard chain (the environment), as in production. */
export const CREDENTIAL_ENV = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };

export function testCredentials() {
  return { accessKeyId: 'testing', secretAccessKey: 'testing' };
}

export interface ContainerSpec {
  image: string;
  env?: Record<string, string>;
}

/** A cluster and its `catalog` service on a family of task-definition revisions. */
export interface Seeded {
  name: string;
  cluster: string;
  service: string;
  family: string;
  arns: string[];
}

export interface EcsRig {
  moto: Moto;
  ecs: ECSClient;
  /**
   * A cluster and a service on revision `current` of a family registered from `revisions`
   * (1-based), with the revisions in `deregister` made INACTIVE.
   */
  seed(
    name: string,
    revisions: ContainerSpec[],
    opts: { current: number; deregister?: number[]; family?: string; desiredCount?: number },
  ): Promise<Seeded>;
  /** The revision the service runs, as family:N. */
  serviceRevision(s: Seeded): Promise<string>;
  /** Every ACTIVE revision of the family, as family:N, sorted. */
  familyRevisions(family: string): Promise<string[]>;
  taskDefinition(name: string): Promise<TaskDefinition>;
  stop(): Promise<void>;
}

/** The two containers of every revision: the app, and a log router that rollbacks must keep as is. */
function containers(app: ContainerSpec): ContainerDefinition[] {
  return [
    {
      name: 'app',
      image: app.image,
      cpu: 256,
      memory: 512,
      essential: true,
      portMappings: [{ containerPort: 8080, hostPort: 0, protocol: 'tcp' }],
      environment: Object.entries(app.env ?? { QURATOR: 'true', LOG_LEVEL: 'info' }).map(([name, value]) => ({
        name,
        value,
      })),
      command: ['node', 'server.js'],
    },
    {
      name: 'log-router',
      image: 'public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0',
      memory: 64,
      essential: false,
      environment: [{ name: 'FLB_LOG_LEVEL', value: 'warn' }],
    },
  ];
}

/** What startEcsRig sets in the environment, and puts back. */
const ENV_KEYS = [
  ...Object.keys(CREDENTIAL_ENV),
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
  'AWS_PROFILE',
  'AWS_SESSION_TOKEN',
];

/**
 * Starts moto and points this process's AWS environment (which the in-process worker's activities
 * read) at dummy credentials only; `stop()` puts the environment back. `scratch` names files that
 * must not exist. Stops what it started if it fails half way.
 */
export async function startEcsRig(scratch: string): Promise<EcsRig> {
  const cleanup = new Cleanup();
  const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  cleanup.add('restore the AWS environment', () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  Object.assign(process.env, CREDENTIAL_ENV, {
    // Nothing from this machine's own AWS setup, and no instance-metadata lookups.
    AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'no-aws-credentials'),
    AWS_CONFIG_FILE: join(scratch, 'no-aws-config'),
    AWS_EC2_METADATA_DISABLED: 'true',
    // The SDK's notice that its 2027 releases need Node 22 (we pin this one): noise in test output.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  try {
    const moto = await startMoto();
    cleanup.add('stop moto', () => moto.stop());
    const ecs = new ECSClient({
      region: moto.region,
      endpoint: moto.endpoint,
      credentials: testCredentials(),
    });
    cleanup.add('close the ECS client', () => ecs.destroy());
    return {
      moto,
      ecs,
      seed: (name, revisions, opts) => seed(ecs, name, revisions, opts),
      async serviceRevision(s) {
        const out = await ecs.send(
          new DescribeServicesCommand({ cluster: s.cluster, services: [s.service] }),
        );
        return revisionName(out.services![0]!.taskDefinition!);
      },
      async familyRevisions(family) {
        const out = await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: family }));
        return (out.taskDefinitionArns ?? []).map(revisionName).sort();
      },
      async taskDefinition(name) {
        return (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: name }))).taskDefinition!;
      },
      stop: () => cleanup.run(),
    };
  } catch (err) {
    return cleanup.abandon(err);
  }
}

const revisionName = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

async function seed(
  ecs: ECSClient,
  name: string,
  revisions: ContainerSpec[],
  opts: { current: number; deregister?: number[]; family?: string; desiredCount?: number },
): Promise<Seeded> {
  const family = opts.family ?? `catalog-${name}`;
  const cluster = `cluster-${name}`;
  await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
  const arns: string[] = [];
  for (const spec of revisions) {
    const r = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family,
        networkMode: 'bridge',
        cpu: '512',
        memory: '1024',
        containerDefinitions: containers(spec),
        tags: [{ key: 'team', value: 'catalog' }],
      }),
    );
    arns.push(r.taskDefinition!.taskDefinitionArn!);
  }
  for (const n of opts.deregister ?? []) {
    await ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: `${family}:${n}` }));
  }
  await ecs.send(
    new CreateServiceCommand({
      cluster,
      serviceName: 'catalog',
      taskDefinition: arns[opts.current - 1],
      desiredCount: opts.desiredCount ?? MOTO_RUNNING_TASKS,
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } },
    }),
  );
  return { name, cluster, service: 'catalog', family, arns };
}

/** The definition itself, without what ECS says about it (ARN, revision, status, dates). */
export function definitionOf(td: TaskDefinition): Record<string, unknown> {
  const copy = structuredClone(td) as Record<string, unknown>;
  for (const k of [
    'taskDefinitionArn',
    'revision',
    'status',
    'requiresAttributes',
    'compatibilities',
    'registeredAt',
    'registeredBy',
    'deregisteredAt',
  ]) {
    delete copy[k];
  }
  return copy;
}
