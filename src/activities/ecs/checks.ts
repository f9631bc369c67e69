import type { Service } from '@aws-sdk/client-ecs';
import type { TargetHealthDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import { formatRevision, revisionOf, sameRevision } from '../../targets/kinds/ecs/revision';

/** Pure verdicts of the post-rollback checks; the activities fetch, these decide. */

export interface CheckVerdict {
  ok: boolean;
  summary: string;
}

/** Stable on the expected revision: the service runs it, with every desired task running. */
export function evaluateServiceStable(service: Service, taskDefinition: string): CheckVerdict {
  const want = revisionOf(taskDefinition);
  const wantText = want ? formatRevision(want) : taskDefinition;
  const now = revisionOf(service.taskDefinition);
  const nowText = now ? formatRevision(now) : (service.taskDefinition ?? 'nothing');
  const running = service.runningCount ?? 0;
  const desired = service.desiredCount ?? 0;
  const pending = service.pendingCount ?? 0;
  if (!sameRevision(service.taskDefinition, taskDefinition)) {
    return { ok: false, summary: `the service runs ${nowText}, expected ${wantText}` };
  }
  const failed = (service.deployments ?? []).find((d) => d.rolloutState === 'FAILED');
  if (failed) {
    return {
      ok: false,
      summary: `deployment ${failed.id} of ${wantText} is FAILED: ${failed.rolloutStateReason ?? 'no reason given'}`,
    };
  }
  if (running !== desired || pending > 0) {
    return {
      ok: false,
      summary: `${wantText} is not stable: ${running}/${desired} tasks running, ${pending} pending`,
    };
  }
  return { ok: true, summary: `service stable on ${wantText}: ${running}/${desired} tasks running` };
}

/** Healthy targets make up at least `minShare` of the registered ones (and there is at least one). */
export function evaluateTargetHealth(
  targets: TargetHealthDescription[],
  minShare: number,
  targetGroup: string,
): CheckVerdict & { healthy: number; total: number } {
  const total = targets.length;
  const healthy = targets.filter((t) => t.TargetHealth?.State === 'healthy').length;
  if (total === 0) {
    return {
      ok: false,
      healthy,
      total,
      summary: `target group ${targetGroup} has no registered targets: the service's tasks are not behind the load balancer`,
    };
  }
  const share = healthy / total;
  const percent = (x: number) => `${Math.round(x * 1000) / 10}%`;
  if (share + 1e-9 < minShare) {
    const bad = targets
      .filter((t) => t.TargetHealth?.State !== 'healthy')
      .slice(0, 5)
      .map(
        (t) =>
          `${t.Target?.Id ?? '?'}${t.Target?.Port ? `:${t.Target.Port}` : ''} ${t.TargetHealth?.State ?? 'unknown'}` +
          (t.TargetHealth?.Reason ? ` (${t.TargetHealth.Reason})` : ''),
      );
    return {
      ok: false,
      healthy,
      total,
      summary: `only ${healthy}/${total} targets healthy (${percent(share)}, need ${percent(minShare)}) in ${targetGroup}: ${bad.join(', ')}`,
    };
  }
  return { ok: true, healthy, total, summary: `${healthy}/${total} targets healthy in ${targetGroup}` };
}

export interface AlarmState {
  name: string;
  state: string;
  reason?: string;
}

/** Every named alarm exists and is OK; the verdict names each one that is not. */
export function evaluateAlarms(names: string[], found: AlarmState[]): CheckVerdict & { missing: string[] } {
  const byName = new Map(found.map((a) => [a.name, a]));
  const missing = names.filter((n) => !byName.has(n));
  const notOk = names
    .map((n) => byName.get(n))
    .filter((a): a is AlarmState => !!a && a.state !== 'OK')
    .map((a) => `${a.name} is ${a.state}${a.reason ? ` (${a.reason})` : ''}`);
  if (missing.length > 0 || notOk.length > 0) {
    return {
      ok: false,
      missing,
      summary: [
        ...notOk,
        ...(missing.length
          ? [`no CloudWatch alarm named ${missing.join(', ')} (check deploy.alarms and the region)`]
          : []),
      ].join('; '),
    };
  }
  return { ok: true, missing, summary: `${names.length} alarm(s) OK: ${names.join(', ')}` };
}
