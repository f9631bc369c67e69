import { Context } from '@temporalio/activity';
import type { FailureType } from '../../model';
import { formatRevision, revisionOf, sameRevision } from '../../targets/kinds/ecs/revision';
import { cancellationSignal, done, heartbeat, permanent, retryable, type StepResult } from '../common';
import type { ActivityDeps } from '../deps';
import {
  call,
  describeService,
  describeTaskDefinition,
  ecsSdk,
  revisionOrFail,
  withEcs,
  type EcsServiceRef,
} from './aws';
import { evaluateServiceStable } from './checks';
import { evaluateDeployment, type DeploymentVerdict } from './progress';
import { containerNames } from './task-definitions';

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

/** Inspect an ECS service, point it at a revision, follow the deployment, check it is stable. */
export function ecsServiceActivities(deps: Pick<ActivityDeps, 'aws' | 'onHost'>) {
  /** What the service runs now: its task-definition revision and the image of the container we manage. */
  async function inspectEcsService(
    input: EcsServiceRef & { containerName?: string; needContainer?: boolean },
  ): Promise<StepResult<EcsDeploymentInfo>> {
    return withEcs(deps.aws, input.aws, async (ecs) => {
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

  /**
   * Points the service at a revision with a forced new deployment. Already on that revision with a
   * deployment that has not failed: nothing to do (the wait step follows the running deployment).
   */
  async function updateEcsService(
    input: EcsServiceRef & { taskDefinitionArn: string },
  ): Promise<
    StepResult<{ deploymentId: string; taskDefinitionArn: string; previous: string; changed: boolean }>
  > {
    const target = revisionOrFail(input.taskDefinitionArn, 'update target');
    return withEcs(deps.aws, input.aws, async (ecs) => {
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
            new (ecsSdk().UpdateServiceCommand)({
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

  /**
   * Waits until the deployment is complete on the expected revision, heartbeating its rollout state,
   * counts and failed tasks. The deadline counts from the first attempt (kept in the heartbeat), so a
   * retry after a worker crash does not start the clock again.
   */
  async function waitForEcsDeployment(
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
    return withEcs(deps.aws, input.aws, async (ecs) => {
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
        if (final) throw permanent(v.summary, `EcsDeployment-${v.state}` as FailureType, verdict);
        await sleep(Math.min(pollMs, Math.max(0, deadlineMs - Date.now()) + 10), signal);
      }
    });
  }

  /** The service runs the expected revision, steady, with running = desired. */
  async function checkEcsService(
    input: EcsServiceRef & { taskDefinitionArn: string },
  ): Promise<StepResult<{ running: number; desired: number }>> {
    return withEcs(deps.aws, input.aws, async (ecs) => {
      const service = await describeService(ecs, input);
      const v = evaluateServiceStable(service, input.taskDefinitionArn);
      if (!v.ok) throw retryable(`ECS service ${input.service}: ${v.summary}`, 'EcsServiceNotStable');
      return done(v.summary, { running: service.runningCount ?? 0, desired: service.desiredCount ?? 0 });
    });
  }

  return { inspectEcsService, updateEcsService, waitForEcsDeployment, checkEcsService };
}
