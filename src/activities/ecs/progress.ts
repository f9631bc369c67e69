import type { Deployment, Service } from '@aws-sdk/client-ecs';
import { formatRevision, revisionOf, sameRevision } from '../../targets/kinds/ecs/revision';

/**
 * Where a service deployment stands, from one DescribeServices answer. Pure, so it is tested
 * against recorded sequences of real ECS answers (the emulator never moves a deployment along).
 */

export type DeploymentState =
  /** Tasks of the new revision are still starting, or old ones still draining. */
  | 'in-progress'
  /** The new revision runs every desired task and nothing else is left. */
  | 'completed'
  /** ECS gave up on the deployment (circuit breaker without rollback): the service stays broken. */
  | 'failed'
  /** ECS's circuit breaker failed the deployment and rolled the service back to an older revision. */
  | 'rolled-back'
  /** Someone else deployed another revision meanwhile. */
  | 'superseded'
  /** Still not completed when the deadline passed. */
  | 'deadline-passed';

export interface DeploymentExpectation {
  /** The revision the service must end on (ARN or family:revision). */
  taskDefinition: string;
  /** The deployment UpdateService started, when known; else the PRIMARY deployment is followed. */
  deploymentId?: string;
}

export interface DeploymentVerdict {
  state: DeploymentState;
  /** True for every state but in-progress: stop polling. */
  final: boolean;
  /** One line for people (heartbeats, step summaries, errors). */
  summary: string;
  rolloutState?: string;
  running: number;
  desired: number;
  pending: number;
  failedTasks: number;
  /** Deployments ECS still lists (old ones drain before the new one counts as completed). */
  deployments: number;
  /** The newest service event, which is where ECS says why tasks fail. */
  lastEvent?: string;
}

function findOurs(service: Service, expect: DeploymentExpectation): Deployment | undefined {
  const deployments = service.deployments ?? [];
  if (expect.deploymentId) {
    const byId = deployments.find((d) => d.id === expect.deploymentId);
    if (byId) return byId;
  }
  // Not (or no longer) listed by id: a later forced deployment of the same revision is ours too.
  return deployments.find(
    (d) => d.status === 'PRIMARY' && sameRevision(d.taskDefinition, expect.taskDefinition),
  );
}

function describe(taskDefinition: string | undefined): string {
  const r = revisionOf(taskDefinition);
  return r ? formatRevision(r) : (taskDefinition ?? 'no task definition');
}

const ROLLBACK_EVENT = /rolling back to deployment|circuit breaker.*roll/i;

export function evaluateDeployment(
  service: Service,
  expect: DeploymentExpectation,
  nowMs: number,
  deadlineMs: number,
): DeploymentVerdict {
  const ours = findOurs(service, expect);
  const deployments = service.deployments ?? [];
  const primary = deployments.find((d) => d.status === 'PRIMARY');
  const base = {
    rolloutState: ours?.rolloutState,
    running: service.runningCount ?? 0,
    desired: service.desiredCount ?? 0,
    pending: service.pendingCount ?? 0,
    failedTasks: ours?.failedTasks ?? 0,
    deployments: deployments.length,
    lastEvent: service.events?.[0]?.message,
  };
  const want = describe(expect.taskDefinition);
  const counts = `${base.running}/${base.desired} running, ${base.pending} pending, ${base.failedTasks} failed task(s)`;
  const verdict = (state: DeploymentState, summary: string): DeploymentVerdict => ({
    state,
    final: state !== 'in-progress',
    summary,
    ...base,
  });

  if (!sameRevision(service.taskDefinition, expect.taskDefinition)) {
    const now = describe(service.taskDefinition);
    const rolledBackEvent = service.events?.find((e) => ROLLBACK_EVENT.test(e.message ?? ''));
    if (ours?.rolloutState === 'FAILED' || rolledBackEvent) {
      return verdict(
        'rolled-back',
        `ECS rolled the deployment of ${want} back to ${now}: ${ours?.rolloutStateReason ?? rolledBackEvent?.message ?? 'circuit breaker'}` +
          (base.lastEvent ? ` (latest event: ${base.lastEvent})` : ''),
      );
    }
    return verdict(
      'superseded',
      `the service now runs ${now}, not ${want}: another deployment replaced this one; check who deployed (service events)`,
    );
  }

  if (ours?.rolloutState === 'FAILED') {
    return verdict(
      'failed',
      `the deployment of ${want} failed: ${ours.rolloutStateReason ?? 'no reason given'} (${counts})` +
        (base.lastEvent ? `; latest event: ${base.lastEvent}` : ''),
    );
  }

  const others = deployments.filter((d) => d !== ours);
  const othersDrained = others.every((d) => (d.runningCount ?? 0) === 0 && (d.pendingCount ?? 0) === 0);
  const allRunning = base.running === base.desired && base.pending === 0;
  // Deployments without a rollout state (older services, CODE_DEPLOY) count as done when steady.
  const rolloutDone = ours?.rolloutState ? ours.rolloutState === 'COMPLETED' : others.length === 0;
  if (ours && ours === primary && rolloutDone && othersDrained && allRunning) {
    return verdict('completed', `${want} deployed: ${base.running}/${base.desired} tasks running`);
  }

  const progress = `deploying ${want}: ${ours?.rolloutState ?? 'no rollout state yet'}, ${counts}, ${others.length} older deployment(s) left`;
  if (nowMs >= deadlineMs) {
    return verdict(
      'deadline-passed',
      `the deployment of ${want} did not complete by its deadline (${progress})` +
        (base.lastEvent ? `; latest event: ${base.lastEvent}` : '') +
        '; look at the service events and stopped tasks, or raise deploy.deadlineSeconds',
    );
  }
  return verdict('in-progress', progress);
}
