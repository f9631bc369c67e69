import type { SignalSpec } from '../model/guard';
import { cloudwatchSdk, elbSdk, type AwsClients } from './ecs/aws';

/**
 * The guard's AWS signals, through the same SDK clients as the ECS steps (credentials from the
 * worker's chain; only region and endpoint travel in history).
 */

type Out = { value?: number; note?: string };
type Aws<T extends SignalSpec['type']> = Extract<SignalSpec, { type: T }>;

const settings = (s: { region: string; endpoint?: string }) => ({ region: s.region, endpoint: s.endpoint });
const failed = (what: string, err: unknown): Out => ({ note: `${what}: ${(err as Error).message}` });

export async function targetGroupSignal(aws: AwsClients, s: Aws<'target-group'>): Promise<Out> {
  const elb = aws.elb(settings(s));
  try {
    const out = await elb.send(
      new (elbSdk().DescribeTargetHealthCommand)({ TargetGroupArn: s.targetGroupArn }),
    );
    const targets = out.TargetHealthDescriptions ?? [];
    if (targets.length === 0) return { value: 1, note: 'no registered targets' };
    const bad = targets.filter((t) => t.TargetHealth?.State !== 'healthy');
    return {
      value: bad.length / targets.length,
      note: `${bad.length}/${targets.length} not healthy${
        bad.length
          ? `: ${bad
              .slice(0, 3)
              .map((t) => `${t.Target?.Id} ${t.TargetHealth?.State}`)
              .join(', ')}`
          : ''
      }`,
    };
  } catch (err) {
    return failed('describe target health', err);
  } finally {
    elb.destroy();
  }
}

export async function alarmsSignal(aws: AwsClients, s: Aws<'cloudwatch-alarms'>): Promise<Out> {
  const cw = aws.cloudwatch(settings(s));
  try {
    const out = await cw.send(
      new (cloudwatchSdk().DescribeAlarmsCommand)({ AlarmNames: s.alarms.slice(0, 100) }),
    );
    const found = out.MetricAlarms ?? [];
    const missing = s.alarms.filter((n) => !found.some((a) => a.AlarmName === n));
    if (missing.length) return { note: `no such alarm: ${missing.join(', ')}` };
    const alarming = found.filter((a) => a.StateValue === 'ALARM').map((a) => a.AlarmName);
    return { value: alarming.length, note: alarming.length ? `in ALARM: ${alarming.join(', ')}` : 'all OK' };
  } catch (err) {
    return failed('describe alarms', err);
  } finally {
    cw.destroy();
  }
}

export async function metricSignal(aws: AwsClients, s: Aws<'cloudwatch-metric'>): Promise<Out> {
  const cw = aws.cloudwatch(settings(s));
  // The end a period ahead: the current period's datapoint counts (CloudWatch aligns to periods).
  const end = new Date(Date.now() + s.periodSeconds * 1000);
  const start = new Date(end.getTime() - s.periodSeconds * 6 * 1000);
  try {
    const out = await cw.send(
      new (cloudwatchSdk().GetMetricDataCommand)({
        StartTime: start,
        EndTime: end,
        ScanBy: 'TimestampDescending',
        MetricDataQueries: [
          {
            Id: 'm',
            MetricStat: {
              Metric: {
                Namespace: s.namespace,
                MetricName: s.metric,
                Dimensions: Object.entries(s.dimensions).map(([Name, Value]) => ({ Name, Value })),
              },
              Period: s.periodSeconds,
              Stat: s.stat,
            },
          },
        ],
      }),
    );
    const r = out.MetricDataResults?.[0];
    const points = (r?.Timestamps ?? []).map((t, i) => ({ t: new Date(t).getTime(), v: r!.Values![i]! }));
    if (points.length === 0) return { note: 'no datapoints in the last 5 periods' };
    const latest = points.sort((a, b) => b.t - a.t)[0]!;
    return { value: latest.v, note: `at ${new Date(latest.t).toISOString()}` };
  } catch (err) {
    return failed('get metric data', err);
  } finally {
    cw.destroy();
  }
}
