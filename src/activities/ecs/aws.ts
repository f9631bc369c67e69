import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { ECSClient, Service, Tag, TaskDefinition } from '@aws-sdk/client-ecs';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { REVISION_SYNTAX, revisionOf, type Revision } from '../../targets/kinds/ecs/revision';
import { permanent } from '../common';

export interface AwsSettings {
  region: string;
  /** An emulator's URL (moto, LocalStack); AWS itself when absent. */
  endpoint?: string;
}

export interface AwsClients {
  ecs(aws: AwsSettings): ECSClient;
  cloudwatch(aws: AwsSettings): CloudWatchClient;
  elb(aws: AwsSettings): ElasticLoadBalancingV2Client;
}

function clientConfig(aws: AwsSettings) {
  return { region: aws.region, endpoint: aws.endpoint, maxAttempts: 3 };
}

/* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use, typed as the import */
/**
 * The AWS SDK's modules, loaded on first use: a worker whose targets are not on AWS does not carry
 * them (about 20 MB of memory for the three).
 */
export const ecsSdk = () => require('@aws-sdk/client-ecs') as typeof import('@aws-sdk/client-ecs');
export const cloudwatchSdk = () =>
  require('@aws-sdk/client-cloudwatch') as typeof import('@aws-sdk/client-cloudwatch');
export const elbSdk = () =>
  require('@aws-sdk/client-elastic-load-balancing-v2') as typeof import('@aws-sdk/client-elastic-load-balancing-v2');
/* eslint-enable @typescript-eslint/no-require-imports */

/** The AWS SDK's own clients; credentials from its standard chain on the worker. */
export const awsClients: AwsClients = {
  ecs: (aws) => new (ecsSdk().ECSClient)(clientConfig(aws)),
  cloudwatch: (aws) => new (cloudwatchSdk().CloudWatchClient)(clientConfig(aws)),
  elb: (aws) => new (elbSdk().ElasticLoadBalancingV2Client)(clientConfig(aws)),
};

/**
 * Talking to AWS for the ECS activities. Credentials come from the AWS SDK's standard chain on the
 * worker (env, profile, role), never from inputs: only the region and an optional endpoint (for
 * emulators) travel through workflow history.
 */

export interface EcsServiceRef {
  aws: AwsSettings;
  cluster: string;
  service: string;
}

/** A fresh client per call: the credential chain is read when the activity runs, not at worker start. */
export async function withEcs<T>(
  clients: AwsClients,
  aws: AwsSettings,
  fn: (ecs: ECSClient) => Promise<T>,
): Promise<T> {
  const ecs = clients.ecs(aws);
  try {
    return await fn(ecs);
  } finally {
    ecs.destroy();
  }
}

export function where(aws: AwsSettings): string {
  return `${aws.region}${aws.endpoint ? ` at ${aws.endpoint}` : ''}`;
}

const DENIED = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'ExpiredTokenException',
  'ExpiredToken',
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedOperation',
]);

/** The few AWS errors retrying cannot fix become permanent failures that say what to change. */
function translate(err: unknown, what: string, aws: AwsSettings, ref?: Partial<EcsServiceRef>): Error {
  const e = err as Error & { name?: string };
  const name = e?.name ?? 'Error';
  const message = e?.message ?? String(err);
  if (name === 'CredentialsProviderError') {
    return permanent(
      `${what}: no AWS credentials found on the worker. They come from the standard AWS SDK chain: set ` +
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the worker's environment, or run it with an " +
        'instance or task role, then retry',
      'AwsCredentialsMissing',
    );
  }
  if (DENIED.has(name)) {
    return permanent(
      `${what}: AWS refused the worker's credentials in ${where(aws)} (${name}: ${message}); ` +
        'check the access key, session token and IAM permissions (ecs:Describe*, ecs:List*, ecs:RegisterTaskDefinition, ecs:UpdateService)',
      'AwsAccessDenied',
    );
  }
  if (name === 'ClusterNotFoundException') {
    return permanent(
      `${what}: ECS cluster "${ref?.cluster ?? '?'}" not found in ${where(aws)}; check deploy.cluster and deploy.region in rollback.yaml`,
      'EcsClusterNotFound',
    );
  }
  if (name === 'ServiceNotFoundException' || name === 'ServiceNotActiveException') {
    return permanent(
      `${what}: ECS service "${ref?.service ?? '?'}" not found or not active in cluster "${ref?.cluster ?? '?'}" (${where(aws)}); check deploy.service`,
      'EcsServiceNotFound',
    );
  }
  if (name === 'TargetGroupNotFoundException') {
    return permanent(`${what}: ${message}; check deploy.targetGroupArn`, 'TargetGroupNotFound');
  }
  if (name === 'ClientException' || name === 'InvalidParameterException' || name === 'ValidationError') {
    return permanent(`${what}: AWS rejected the request (${name}: ${message})`, 'AwsRequestRejected');
  }
  // Throttling, network trouble, 5xx: worth another attempt.
  return new Error(`${what} failed in ${where(aws)}: ${name}: ${message}`);
}

export async function call<T>(
  what: string,
  aws: AwsSettings,
  fn: () => Promise<T>,
  ref?: Partial<EcsServiceRef>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translate(err, what, aws, ref);
  }
}

export async function describeService(ecs: ECSClient, ref: EcsServiceRef): Promise<Service> {
  const out = await call(
    `describe ECS service ${ref.service}`,
    ref.aws,
    () => ecs.send(new (ecsSdk().DescribeServicesCommand)({ cluster: ref.cluster, services: [ref.service] })),
    ref,
  );
  const service = out.services?.find((s) => s.status !== 'INACTIVE');
  if (!service) {
    let known = '';
    try {
      const list = await ecs.send(
        new (ecsSdk().ListServicesCommand)({ cluster: ref.cluster, maxResults: 20 }),
      );
      const names = (list.serviceArns ?? []).map((a) => a.split('/').pop());
      known = names.length
        ? `; services in that cluster: ${names.join(', ')}`
        : '; that cluster has no services';
    } catch {
      /* the hint is optional */
    }
    throw permanent(
      `ECS service "${ref.service}" not found in cluster "${ref.cluster}" (${where(ref.aws)})${known}; check deploy.service in rollback.yaml`,
      'EcsServiceNotFound',
    );
  }
  if (service.status !== 'ACTIVE') {
    throw permanent(
      `ECS service "${ref.service}" in cluster "${ref.cluster}" is ${service.status}, not ACTIVE: it is being deleted, so there is nothing to roll back`,
      'EcsServiceNotActive',
    );
  }
  return service;
}

export async function describeTaskDefinition(
  ecs: ECSClient,
  aws: AwsSettings,
  name: string,
): Promise<{ td: TaskDefinition; tags: Tag[] }> {
  try {
    const out = await ecs.send(
      new (ecsSdk().DescribeTaskDefinitionCommand)({ taskDefinition: name, include: ['TAGS'] }),
    );
    if (!out.taskDefinition) throw new Error('empty answer');
    return { td: out.taskDefinition, tags: out.tags ?? [] };
  } catch (err) {
    const e = err as Error;
    if (e.name === 'ClientException' || e.name === 'InvalidParameterException') {
      throw permanent(
        `task definition ${name} does not exist in ${where(aws)} (${e.message}); name an existing revision (${REVISION_SYNTAX})`,
        'EcsTaskDefinitionNotFound',
      );
    }
    throw translate(err, `describe task definition ${name}`, aws);
  }
}

export async function listActiveRevisions(
  ecs: ECSClient,
  aws: AwsSettings,
  family: string,
): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const out = await call(`list ACTIVE revisions of ${family}`, aws, () =>
      ecs.send(
        new (ecsSdk().ListTaskDefinitionsCommand)({
          familyPrefix: family,
          status: 'ACTIVE',
          sort: 'DESC',
          nextToken,
        }),
      ),
    );
    arns.push(...(out.taskDefinitionArns ?? []));
    nextToken = out.nextToken;
  } while (nextToken);
  return arns;
}

export function revisionOrFail(arn: string | undefined, what: string): Revision {
  const r = revisionOf(arn);
  if (!r)
    throw permanent(
      `${what}: "${arn ?? ''}" is not a task-definition revision (${REVISION_SYNTAX})`,
      'EcsBadRevision',
    );
  return r;
}
