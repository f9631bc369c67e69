import type { MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { done, permanent, retryable, type StepResult } from '../common';
import type { ActivityDeps } from '../deps';
import { call, cloudwatchSdk, elbSdk, type AwsSettings } from './aws';
import { evaluateAlarms, evaluateTargetHealth } from './checks';

/** The load balancer's targets and the CloudWatch alarms after an ECS rollback. */
export function ecsHealthActivities(deps: Pick<ActivityDeps, 'aws' | 'onHost'>) {
  /** At least `minHealthyShare` of the load balancer's targets are healthy. */
  async function checkTargetGroupHealth(input: {
    aws: AwsSettings;
    targetGroupArn: string;
    minHealthyShare: number;
  }): Promise<StepResult<{ healthy: number; total: number }>> {
    const elb = deps.aws.elb(input.aws);
    try {
      const out = await call(`describe target health of ${input.targetGroupArn}`, input.aws, () =>
        elb.send(new (elbSdk().DescribeTargetHealthCommand)({ TargetGroupArn: input.targetGroupArn })),
      );
      const name = input.targetGroupArn.split(':').pop() ?? input.targetGroupArn;
      const v = evaluateTargetHealth(out.TargetHealthDescriptions ?? [], input.minHealthyShare, name);
      if (!v.ok) throw retryable(v.summary, 'TargetsUnhealthy');
      return done(v.summary, { healthy: v.healthy, total: v.total });
    } finally {
      elb.destroy();
    }
  }

  /** Every configured CloudWatch alarm is OK; one in ALARM fails the check, by name. */
  async function checkCloudWatchAlarms(input: {
    aws: AwsSettings;
    alarms: string[];
  }): Promise<StepResult<{ alarms: { name: string; state: string }[] }>> {
    const cw = deps.aws.cloudwatch(input.aws);
    try {
      const found: MetricAlarm[] = [];
      // DescribeAlarms takes at most 100 names per call.
      for (let i = 0; i < input.alarms.length; i += 100) {
        const names = input.alarms.slice(i, i + 100);
        let nextToken: string | undefined;
        do {
          const out = await call(`describe CloudWatch alarms ${names.join(', ')}`, input.aws, () =>
            cw.send(new (cloudwatchSdk().DescribeAlarmsCommand)({ AlarmNames: names, NextToken: nextToken })),
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
      if (!v.ok) throw retryable(`alarms not OK: ${v.summary}`, 'AlarmsNotOk');
      return done(v.summary, { alarms: states.map(({ name, state }) => ({ name, state })) });
    } finally {
      cw.destroy();
    }
  }

  return { checkTargetGroupHealth, checkCloudWatchAlarms };
}
