import { DescribeAlarmsCommand, CloudWatchClient, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  ListServicesCommand,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type Service,
  type Tag,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { Context } from '@temporalio/activity';
import { evaluateAlarms, evaluateServiceStable, evaluateTargetHealth } from '../ecs/checks';
import { evaluateDeployment, type DeploymentVerdict } from '../ecs/progress';
import {
  containerNames,
  formatRevision,
  imageFromBuildOutput,
  parseRevisionRef,
  previousRevision,
  REVISION_SYNTAX,
  revisionOf,
  revisionsOfFamily,
  sameDefinition,
  sameRevision,
  variantOf,
  VariantError,
  type ContainerChange,
  type Revision,
} from '../ecs/task-definitions';
import { localRunner } from '../runner/local';
import { tail } from '../runner/types';
import { cancellationSignal, done, heartbeat, permanent, type StepResult } from './common';

/**
 * Activities for services on AWS ECS. Credentials come from the AWS SDK's standard chain on the
 * worker (env, profile, role), never from inputs: only the region and an optional endpoint (for
 * emulators) travel through workflow history. Each activity looks before it acts.
 */

export interface AwsSettings {
  region: string;
  /** An emulator's URL (moto, LocalStack); AWS itself when absent. */
  endpoint?: string;
}

export interface EcsServiceRef {
  aws: AwsSettings;
  cluster: string;
  service: string;
}

function clientConfig(aws: AwsSettings) {
  return { region: aws.region, endpoint: aws.endpoint, maxAttempts: 3 };
}

/** A fresh client per call: the credential chain is read when the activity runs, not at worker start. */
async function withEcs<T>(aws: AwsSettings, fn: (ecs: ECSClient) => Promise<T>): Promise<T> {
  const ecs = new ECSClient(clientConfig(aws));
  try {
    return await fn(ecs);
  } finally {
    ecs.destroy();
  }
}

function where(aws: AwsSettings): string {
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

async function call<T>(
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

async function describeService(ecs: ECSClient, ref: EcsServiceRef): Promise<Service> {
  const out = await call(
    `describe ECS service ${ref.service}`,
    ref.aws,
    () => ecs.send(new DescribeServicesCommand({ cluster: ref.cluster, services: [ref.service] })),
    ref,
  );
  const service = out.services?.find((s) => s.status !== 'INACTIVE');
  if (!service) {
    let known = '';
    try {
      const list = await ecs.send(new ListServicesCommand({ cluster: ref.cluster, maxResults: 20 }));
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

async function describeTaskDefinition(
  ecs: ECSClient,
  aws: AwsSettings,
  name: string,
): Promise<{ td: TaskDefinition; tags: Tag[] }> {
  try {
    const out = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: name, include: ['TAGS'] }),
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

async function listActiveRevisions(ecs: ECSClient, aws: AwsSettings, family: string): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const out = await call(`list ACTIVE revisions of ${family}`, aws, () =>
      ecs.send(
        new ListTaskDefinitionsCommand({ familyPrefix: family, status: 'ACTIVE', sort: 'DESC', nextToken }),
      ),
    );
    arns.push(...(out.taskDefinitionArns ?? []));
    nextToken = out.nextToken;
  } while (nextToken);
  return arns;
}

function revisionOrFail(arn: string | undefined, what: string): Revision {
  const r = revisionOf(arn);
  if (!r)
    throw permanent(
      `${what}: "${arn ?? ''}" is not a task-definition revision (${REVISION_SYNTAX})`,
      'EcsBadRevision',
    );
  return r;
}

export interface EcsDeploymentInfo extends Record<string, unknown> {
  serviceArn: string;
  clusterArn: string;
  taskDefinitionArn: string;
  family: string;
  revision: number;
  /** `family:revision`: the rollback's from-version. */
  version: string;
  containerName: string | null;
  image: string | null;
  desiredCount: number;
  runningCount: number;
}

/** What the service runs now: its task-definition revision and the image of the container we manage. */
export async function inspectEcsService(
  input: EcsServiceRef & { containerName?: string; needContainer?: boolean },
): Promise<StepResult<EcsDeploymentInfo>> {
  return withEcs(input.aws, async (ecs) => {
    const service = await describeService(ecs, input);
    const { td } = await describeTaskDefinition(ecs, input.aws, service.taskDefinition ?? '');
    const rev = revisionOrFail(td.taskDefinitionArn, `service ${input.service}'s task definition`);
    const names = containerNames(td);
    let containerName: string | null = null;
    if (input.containerName) {
      if (!names.includes(input.containerName)) {
        throw permanent(
          `task definition ${formatRevision(rev)} of service ${input.service} has no container "${input.containerName}" ` +
            `(it has: ${names.join(', ')}); fix deploy.containerName`,
          'EcsContainerNotFound',
        );
      }
      containerName = input.containerName;
    } else if (names.length === 1) {
      containerName = names[0]!;
    } else if (input.needContainer) {
      throw permanent(
        `task definition ${formatRevision(rev)} has ${names.length} containers (${names.join(', ')}): ` +
          'set deploy.containerName to the one this rollback changes',
        'EcsContainerAmbiguous',
      );
    }
    const image = td.containerDefinitions?.find((c) => c.name === containerName)?.image ?? null;
    const version = formatRevision(rev);
    return done(
      `service ${input.service} runs ${version}${image ? ` (${containerName}: ${image})` : ''}, ` +
        `${service.runningCount ?? 0}/${service.desiredCount ?? 0} tasks running`,
      {
        serviceArn: service.serviceArn ?? '',
        clusterArn: service.clusterArn ?? '',
        taskDefinitionArn: td.taskDefinitionArn!,
        family: rev.family,
        revision: rev.revision,
        version,
        containerName,
        image,
        desiredCount: service.desiredCount ?? 0,
        runningCount: service.runningCount ?? 0,
      },
    );
  });
}

export interface RevisionInfo extends Record<string, unknown> {
  taskDefinitionArn: string;
  family: string;
  revision: number;
  version: string;
}

/**
 * The revision an emergency rollback returns to: the one the request names (same family, ACTIVE),
 * else the newest ACTIVE revision older than the current one. Reads only.
 */
export async function findEcsRollbackRevision(input: {
  aws: AwsSettings;
  currentTaskDefinitionArn: string;
  requested?: string;
}): Promise<StepResult<RevisionInfo>> {
  const current = revisionOrFail(input.currentTaskDefinitionArn, 'current task definition');
  return withEcs(input.aws, async (ecs) => {
    if (input.requested) {
      const parsed = parseRevisionRef(input.requested);
      if (!parsed) {
        throw permanent(`"${input.requested}" is not a revision: use ${REVISION_SYNTAX}`, 'EcsBadRevision');
      }
      if (parsed.family && parsed.family !== current.family) {
        throw permanent(
          `${input.requested} is a revision of family "${parsed.family}", but the service runs family ` +
            `"${current.family}" (${formatRevision(current)}); name a revision of ${current.family}, like ${current.family}:${Math.max(1, current.revision - 1)}`,
          'EcsWrongFamily',
        );
      }
      const wanted = { family: current.family, revision: parsed.revision };
      if (wanted.revision === current.revision) {
        throw permanent(
          `the service already runs ${formatRevision(current)}: name an earlier revision, or omit the version for the previous ACTIVE one`,
          'EcsAlreadyOnRevision',
        );
      }
      const { td } = await describeTaskDefinition(ecs, input.aws, formatRevision(wanted));
      if (td.status !== 'ACTIVE') {
        throw permanent(
          `${formatRevision(wanted)} is ${td.status ?? 'not ACTIVE'} (deregistered): ECS cannot deploy it; ` +
            'name an ACTIVE revision (aws ecs list-task-definitions --family-prefix ' +
            `${current.family} --status ACTIVE)`,
          'EcsRevisionInactive',
        );
      }
      const version = formatRevision(wanted);
      return done(`rolling back to the requested ${version}`, {
        taskDefinitionArn: td.taskDefinitionArn!,
        family: wanted.family,
        revision: wanted.revision,
        version,
      });
    }
    const active = await listActiveRevisions(ecs, input.aws, current.family);
    const previous = previousRevision(active, current);
    if (!previous) {
      const others = revisionsOfFamily(active, current.family).map((x) => x.revision);
      throw permanent(
        `family "${current.family}" has no ACTIVE revision before ${formatRevision(current)} ` +
          `(ACTIVE revisions: ${others.join(', ') || 'none'}; deregistered ones cannot be deployed): ` +
          'name the revision to return to explicitly, or register the known-good task definition again',
        'EcsNoPreviousRevision',
      );
    }
    const version = `${current.family}:${previous.revision}`;
    return done(`previous ACTIVE revision: ${version} (service runs ${formatRevision(current)})`, {
      taskDefinitionArn: previous.arn,
      family: current.family,
      revision: previous.revision,
      version,
    });
  });
}

/**
 * Registers a revision that differs from `sourceTaskDefinitionArn` only in one container's image or
 * environment. Reuses the family's latest ACTIVE revision when it already is exactly that (a retry
 * after a crash, or a second rollback of the same kind), and the source itself when nothing changes.
 */
export async function registerEcsTaskDefinitionVariant(input: {
  aws: AwsSettings;
  sourceTaskDefinitionArn: string;
  containerName: string;
  image?: string;
  environment?: Record<string, string>;
}): Promise<StepResult<RevisionInfo & { reused: boolean }>> {
  const change: ContainerChange = { image: input.image, environment: input.environment };
  const what = [
    input.image ? `image ${input.image}` : '',
    input.environment
      ? Object.entries(input.environment)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')
      : '',
  ]
    .filter(Boolean)
    .join(' and ');
  return withEcs(input.aws, async (ecs) => {
    const { td: source, tags } = await describeTaskDefinition(ecs, input.aws, input.sourceTaskDefinitionArn);
    const sourceRev = revisionOrFail(source.taskDefinitionArn, 'source task definition');
    let wanted;
    try {
      wanted = variantOf(source, input.containerName, change, tags);
    } catch (err) {
      if (err instanceof VariantError) throw permanent(err.message, 'EcsVariant');
      throw err;
    }
    const result = (td: TaskDefinition, reused: boolean, summary: string) => {
      const r = revisionOrFail(td.taskDefinitionArn, 'registered task definition');
      return done(summary, {
        taskDefinitionArn: td.taskDefinitionArn!,
        family: r.family,
        revision: r.revision,
        version: formatRevision(r),
        reused,
      });
    };
    const sourceAsIs = variantOf(source, input.containerName, {}, tags);
    if (sameDefinition(wanted, sourceAsIs)) {
      return result(source, true, `${formatRevision(sourceRev)} already has ${what}: nothing to register`);
    }
    const active = revisionsOfFamily(
      await listActiveRevisions(ecs, input.aws, sourceRev.family),
      sourceRev.family,
    );
    const latest = active[0];
    if (latest && latest.revision !== sourceRev.revision) {
      const { td, tags: latestTags } = await describeTaskDefinition(ecs, input.aws, latest.arn);
      if (sameDefinition(wanted, variantOf(td, input.containerName, {}, latestTags))) {
        return result(
          td,
          true,
          `reusing ${sourceRev.family}:${latest.revision}: it already is ${formatRevision(sourceRev)} with ${what}`,
        );
      }
    }
    const out = await call(`register a variant of ${formatRevision(sourceRev)}`, input.aws, () =>
      ecs.send(new RegisterTaskDefinitionCommand(wanted)),
    );
    if (!out.taskDefinition) throw new Error('RegisterTaskDefinition returned no task definition');
    const r = revisionOrFail(out.taskDefinition.taskDefinitionArn, 'registered task definition');
    return result(
      out.taskDefinition,
      false,
      `registered ${formatRevision(r)}: ${formatRevision(sourceRev)} with ${what}`,
    );
  });
}

/**
 * Points the service at a revision with a forced new deployment. Already on that revision with a
 * deployment that has not failed: nothing to do (the wait step follows the running deployment).
 */
export async function updateEcsService(
  input: EcsServiceRef & { taskDefinitionArn: string },
): Promise<
  StepResult<{ deploymentId: string; taskDefinitionArn: string; previous: string; changed: boolean }>
> {
  const target = revisionOrFail(input.taskDefinitionArn, 'update target');
  return withEcs(input.aws, async (ecs) => {
    const service = await describeService(ecs, input);
    const previous = service.taskDefinition ?? '';
    const primary = service.deployments?.find((d) => d.status === 'PRIMARY');
    if (sameRevision(previous, input.taskDefinitionArn) && primary?.rolloutState !== 'FAILED') {
      return done(
        `service ${input.service} already on ${formatRevision(target)} (deployment ${primary?.rolloutState ?? 'steady'})`,
        {
          deploymentId: primary?.id ?? '',
          taskDefinitionArn: input.taskDefinitionArn,
          previous,
          changed: false,
        },
      );
    }
    const out = await call(
      `update ECS service ${input.service}`,
      input.aws,
      () =>
        ecs.send(
          new UpdateServiceCommand({
            cluster: input.cluster,
            service: input.service,
            // Always the full ARN: ECS resolves it anyway, and an emulator stores what it is sent.
            taskDefinition: input.taskDefinitionArn,
            forceNewDeployment: true,
          }),
        ),
      input,
    );
    const started = out.service?.deployments?.find((d) => d.status === 'PRIMARY');
    const from = revisionOf(previous);
    return done(
      `service ${input.service}: ${from ? formatRevision(from) : previous} → ${formatRevision(target)}, deployment ${started?.id ?? '?'} started`,
      {
        deploymentId: started?.id ?? '',
        taskDefinitionArn: input.taskDefinitionArn,
        previous,
        changed: true,
      },
    );
  });
}

interface WaitProgress {
  startedAtMs: number;
  verdict?: Omit<DeploymentVerdict, 'final'>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('cancelled'));
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(new Error('cancelled'));
      },
      { once: true },
    );
  });
}

/**
 * Waits until the deployment is complete on the expected revision, heartbeating its rollout state,
 * counts and failed tasks. The deadline counts from the first attempt (kept in the heartbeat), so a
 * retry after a worker crash does not start the clock again.
 */
export async function waitForEcsDeployment(
  input: EcsServiceRef & {
    taskDefinitionArn: string;
    deploymentId?: string;
    deadlineSeconds: number;
    pollSeconds?: number;
  },
): Promise<StepResult<Omit<DeploymentVerdict, 'final'> & { seconds: number }>> {
  let startedAtMs = Date.now();
  try {
    const previous = Context.current().info.heartbeatDetails as WaitProgress | undefined;
    if (previous && typeof previous.startedAtMs === 'number') startedAtMs = previous.startedAtMs;
  } catch {
    /* outside an activity */
  }
  const deadlineMs = startedAtMs + input.deadlineSeconds * 1000;
  const pollMs = Math.max(200, (input.pollSeconds ?? 5) * 1000);
  const signal = cancellationSignal();
  return withEcs(input.aws, async (ecs) => {
    for (;;) {
      const service = await describeService(ecs, input);
      const v = evaluateDeployment(
        service,
        { taskDefinition: input.taskDefinitionArn, deploymentId: input.deploymentId || undefined },
        Date.now(),
        deadlineMs,
      );
      const { final, ...verdict } = v;
      heartbeat({ startedAtMs, verdict } satisfies WaitProgress);
      if (v.state === 'completed') {
        return done(v.summary, { ...verdict, seconds: Math.round((Date.now() - startedAtMs) / 1000) });
      }
      if (final) throw permanent(v.summary, `EcsDeployment-${v.state}`, verdict);
      await sleep(Math.min(pollMs, Math.max(0, deadlineMs - Date.now()) + 10), signal);
    }
  });
}

/** The service runs the expected revision, steady, with running = desired. */
export async function checkEcsService(
  input: EcsServiceRef & { taskDefinitionArn: string },
): Promise<StepResult<{ running: number; desired: number }>> {
  return withEcs(input.aws, async (ecs) => {
    const service = await describeService(ecs, input);
    const v = evaluateServiceStable(service, input.taskDefinitionArn);
    if (!v.ok) throw new Error(`ECS service ${input.service}: ${v.summary}`);
    return done(v.summary, { running: service.runningCount ?? 0, desired: service.desiredCount ?? 0 });
  });
}

/** At least `minHealthyShare` of the load balancer's targets are healthy. */
export async function checkTargetGroupHealth(input: {
  aws: AwsSettings;
  targetGroupArn: string;
  minHealthyShare: number;
}): Promise<StepResult<{ healthy: number; total: number }>> {
  const elb = new ElasticLoadBalancingV2Client(clientConfig(input.aws));
  try {
    const out = await call(`describe target health of ${input.targetGroupArn}`, input.aws, () =>
      elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: input.targetGroupArn })),
    );
    const name = input.targetGroupArn.split(':').pop() ?? input.targetGroupArn;
    const v = evaluateTargetHealth(out.TargetHealthDescriptions ?? [], input.minHealthyShare, name);
    if (!v.ok) throw new Error(v.summary);
    return done(v.summary, { healthy: v.healthy, total: v.total });
  } finally {
    elb.destroy();
  }
}

/** Every configured CloudWatch alarm is OK; one in ALARM fails the check, by name. */
export async function checkCloudWatchAlarms(input: {
  aws: AwsSettings;
  alarms: string[];
}): Promise<StepResult<{ alarms: { name: string; state: string }[] }>> {
  const cw = new CloudWatchClient(clientConfig(input.aws));
  try {
    const found: MetricAlarm[] = [];
    // DescribeAlarms takes at most 100 names per call.
    for (let i = 0; i < input.alarms.length; i += 100) {
      const names = input.alarms.slice(i, i + 100);
      let nextToken: string | undefined;
      do {
        const out = await call(`describe CloudWatch alarms ${names.join(', ')}`, input.aws, () =>
          cw.send(new DescribeAlarmsCommand({ AlarmNames: names, NextToken: nextToken })),
        );
        found.push(...(out.MetricAlarms ?? []));
        nextToken = out.NextToken;
      } while (nextToken);
    }
    const states = found.map((a) => ({
      name: a.AlarmName ?? '?',
      state: a.StateValue ?? 'UNKNOWN',
      reason: a.StateReason,
    }));
    const v = evaluateAlarms(input.alarms, states);
    if (v.missing.length > 0) throw permanent(v.summary, 'AlarmNotFound');
    if (!v.ok) throw new Error(`alarms not OK: ${v.summary}`);
    return done(v.summary, { alarms: states.map(({ name, state }) => ({ name, state })) });
  } finally {
    cw.destroy();
  }
}

/**
 * Runs the target's build-and-push command on this host and reads the image it produced from the
 * last line it prints. The reverted commit is passed as ROLLBACK_COMMIT; re-running a build of the
 * same commit is expected to be harmless (it pushes the same image).
 */
export async function runImageBuild(input: {
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
  currentImage: string;
  imageTagPattern?: string;
  timeoutSeconds?: number;
}): Promise<StepResult<{ image: string; tag: string }>> {
  const r = await localRunner.run(input.argv, {
    cwd: input.cwd,
    env: input.env,
    timeoutMs: (input.timeoutSeconds ?? 1140) * 1000,
    onTick: () => heartbeat({ running: input.argv[0] }),
    signal: cancellationSignal(),
  });
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
