import {
  CloudWatchClient,
  PutMetricAlarmCommand,
  PutMetricDataCommand,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { signalActivities } from '../src/activities/signals';
import { defaultDeps } from '../src/activities/deps';
import { ecsGuardDefaults, guardSchema, resolveGuard } from '../src/targets/guard';
import { CREDENTIAL_ENV, testCredentials } from './rig/ecs';
import { startMoto, type Moto } from './rig/moto';

/**
 * A guard's AWS signals against moto (the AWS API emulator): an ECS target's preset watches its
 * target group, its service's CloudWatch memory metric and its alarms, with the target's own region
 * and endpoint. moto never evaluates alarms from metrics: the test sets the alarm's state itself.
 */

let moto: Moto;
const saved = { ...process.env };

beforeAll(async () => {
  Object.assign(process.env, CREDENTIAL_ENV);
  moto = await startMoto();
});

afterAll(async () => {
  await moto?.stop();
  for (const k of Object.keys(CREDENTIAL_ENV)) if (saved[k] === undefined) delete process.env[k];
});

test('the ECS runbook preset on an ECS target: target-group health, AWS/ECS memory and the alarms, sampled from CloudWatch and ELB', async () => {
  const aws = { region: moto.region, endpoint: moto.endpoint, credentials: testCredentials() };
  const cw = new CloudWatchClient(aws);
  const elb = new ElasticLoadBalancingV2Client(aws);
  const tg = await elb.send(new CreateTargetGroupCommand({ Name: 'guard-aws', TargetType: 'lambda' }));
  const targetGroupArn = tg.TargetGroups![0]!.TargetGroupArn!;
  await elb.send(
    new RegisterTargetsCommand({
      TargetGroupArn: targetGroupArn,
      Targets: [{ Id: 'arn:aws:lambda:eu-west-1:123456789012:function:guard-aws' }],
    }),
  );
  await cw.send(
    new PutMetricAlarmCommand({
      AlarmName: 'guard-aws-5xx',
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'HTTPCode_Target_5XX_Count',
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    }),
  );
  await cw.send(
    new SetAlarmStateCommand({ AlarmName: 'guard-aws-5xx', StateValue: 'ALARM', StateReason: 'drill' }),
  );
  await cw.send(
    new PutMetricDataCommand({
      Namespace: 'AWS/ECS',
      MetricData: [
        {
          MetricName: 'MemoryUtilization',
          Dimensions: [
            { Name: 'ClusterName', Value: 'guard-cluster' },
            { Name: 'ServiceName', Value: 'guard-svc' },
          ],
          Value: 93.5,
          Unit: 'Percent',
          Timestamp: new Date(),
        },
      ],
    }),
  );

  const target = {
    deploy: {
      type: 'ecs',
      region: moto.region,
      endpoint: moto.endpoint,
      cluster: 'guard-cluster',
      service: 'guard-svc',
      targetGroupArn,
      alarms: ['guard-aws-5xx'],
    },
  };
  const spec = resolveGuard('guard-aws', guardSchema.parse({ preset: 'ecs-runbook' }), '/dev/null', {
    ecs: ecsGuardDefaults(target),
  });
  expect(spec.rules.map((r) => [r.name, r.signal.type])).toEqual([
    ['unhealthy-instances', 'target-group'],
    ['memory', 'cloudwatch-metric'],
    ['alarms', 'cloudwatch-alarms'],
  ]);
  const { sampleSignals } = signalActivities(defaultDeps());
  const samples = await sampleSignals({
    samples: spec.rules.map((r) => ({ rule: r.name, signal: r.signal })),
  });
  const by = Object.fromEntries(samples.map((s) => [s.rule, s]));
  // moto reports a lambda target's health as it registers it; whatever it says, the share is a share.
  expect(by['unhealthy-instances'].value).toBeGreaterThanOrEqual(0);
  expect(by['unhealthy-instances'].value).toBeLessThanOrEqual(1);
  expect(by['unhealthy-instances'].note).toMatch(/^\d+\/1 not healthy/);
  expect(by.memory).toMatchObject({ value: 93.5 });
  expect(by.alarms).toMatchObject({ value: 1, note: 'in ALARM: guard-aws-5xx' });

  // An alarm that does not exist gives no value (the window breaks), saying which.
  const [missing] = await sampleSignals({
    samples: [
      {
        rule: 'x',
        signal: {
          type: 'cloudwatch-alarms',
          region: moto.region,
          endpoint: moto.endpoint,
          alarms: ['no-such-alarm'],
        },
      },
    ],
  });
  expect(missing).toEqual({ rule: 'x', note: 'no such alarm: no-such-alarm' });
  cw.destroy();
  elb.destroy();
});
