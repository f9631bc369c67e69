import type { Deployment, Service, ServiceEvent } from '@aws-sdk/client-ecs';
import { evaluateDeployment, type DeploymentState } from '../src/activities/ecs/progress';

/**
 * The deployment-progress logic, against sequences of DescribeServices answers.
 *
 * Why not against the emulator: moto keeps one deployment per service forever. Its rolloutState
 * is fixed when the service is created, UpdateService does not add a deployment (a forced one only
 * renames it, and it keeps the old task definition), and nothing ever starts, fails or drains. So
 * moto cannot show a deployment in progress, failing, or rolled back by ECS's circuit breaker.
 * These sequences have the shape ECS gives them (the fields, statuses and the messages ECS writes
 * in rolloutStateReason and events), one answer per poll, as a rollout goes from start to end.
 */

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const td = (rev: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/catalog:${rev}`;
const OLD = 'ecs-svc/2911785470341286907'; // the bad release's deployment
const OURS = 'ecs-svc/5417207633486411211'; // the one UpdateService started for the rollback
const T0 = Date.parse('2026-03-02T03:12:40.000Z');
const at = (s: number) => new Date(T0 + s * 1000);

function deployment(
  d: Partial<Deployment> & Pick<Deployment, 'id' | 'status' | 'taskDefinition'>,
): Deployment {
  return {
    desiredCount: 2,
    pendingCount: 0,
    runningCount: 0,
    failedTasks: 0,
    createdAt: at(0),
    updatedAt: at(0),
    launchType: 'FARGATE',
    platformVersion: '1.4.0',
    platformFamily: 'Linux',
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: ['subnet-0a1b2c3d4e5f60718'],
        securityGroups: ['sg-0123456789abcdef0'],
        assignPublicIp: 'DISABLED',
      },
    },
    ...d,
  };
}

function event(s: number, message: string): ServiceEvent {
  return { id: `${s}-e`, createdAt: at(s), message };
}

function service(s: Partial<Service> & Pick<Service, 'taskDefinition' | 'deployments'>): Service {
  return {
    serviceArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:service/prod/catalog`,
    serviceName: 'catalog',
    clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/prod`,
    loadBalancers: [
      {
        targetGroupArn: `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/catalog/6d0ecf831eec9f09`,
        containerName: 'app',
        containerPort: 8080,
      },
    ],
    status: 'ACTIVE',
    desiredCount: 2,
    runningCount: 2,
    pendingCount: 0,
    launchType: 'FARGATE',
    platformVersion: 'LATEST',
    platformFamily: 'Linux',
    deploymentConfiguration: {
      deploymentCircuitBreaker: { enable: true, rollback: true },
      maximumPercent: 200,
      minimumHealthyPercent: 100,
    },
    events: [],
    schedulingStrategy: 'REPLICA',
    deploymentController: { type: 'ECS' },
    ...s,
  };
}

const oldCompleted = (running: number) =>
  deployment({
    id: OLD,
    status: 'ACTIVE',
    taskDefinition: td(7),
    runningCount: running,
    rolloutState: 'COMPLETED',
    rolloutStateReason: `ECS deployment ${OLD} completed.`,
    createdAt: at(-86_400),
  });

const expectRev6 = { taskDefinition: td(6), deploymentId: OURS };
const DEADLINE = T0 + 600_000;

function states(sequence: { service: Service; at: number }[], expect = expectRev6): DeploymentState[] {
  return sequence.map((s) => evaluateDeployment(s.service, expect, T0 + s.at * 1000, DEADLINE).state);
}

test('a rolling deployment: in progress while tasks start and old ones drain, completed once only ours is left', () => {
  const sequence = [
    {
      at: 1,
      service: service({
        taskDefinition: td(6),
        runningCount: 2,
        deployments: [
          deployment({
            id: OURS,
            status: 'PRIMARY',
            taskDefinition: td(6),
            rolloutState: 'IN_PROGRESS',
            rolloutStateReason: `ECS deployment ${OURS} in progress.`,
          }),
          oldCompleted(2),
        ],
      }),
    },
    {
      at: 20,
      service: service({
        taskDefinition: td(6),
        runningCount: 2,
        pendingCount: 2,
        deployments: [
          deployment({
            id: OURS,
            status: 'PRIMARY',
            taskDefinition: td(6),
            pendingCount: 2,
            rolloutState: 'IN_PROGRESS',
            rolloutStateReason: `ECS deployment ${OURS} in progress.`,
          }),
          oldCompleted(2),
        ],
        events: [
          event(
            18,
            '(service catalog) has started 2 tasks: (task 0b4d8e2c5f6a4b3c9d1e) (task 7f3a9c1d2e4b5a6c8d0e).',
          ),
        ],
      }),
    },
    {
      at: 75,
      service: service({
        taskDefinition: td(6),
        runningCount: 4,
        deployments: [
          deployment({
            id: OURS,
            status: 'PRIMARY',
            taskDefinition: td(6),
            runningCount: 2,
            rolloutState: 'IN_PROGRESS',
            rolloutStateReason: `ECS deployment ${OURS} in progress.`,
          }),
          oldCompleted(2),
        ],
        events: [
          event(
            70,
            '(service catalog) registered 2 targets in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/catalog/6d0ecf831eec9f09)',
          ),
        ],
      }),
    },
    {
      at: 140,
      service: service({
        taskDefinition: td(6),
        runningCount: 2,
        deployments: [
          deployment({
            id: OURS,
            status: 'PRIMARY',
            taskDefinition: td(6),
            runningCount: 2,
            rolloutState: 'IN_PROGRESS',
            rolloutStateReason: `ECS deployment ${OURS} in progress.`,
          }),
          oldCompleted(0),
        ],
        events: [
          event(
            130,
            '(service catalog) has stopped 2 running tasks: (task 1c2d3e4f5a6b7c8d9e0f) (task 9e8d7c6b5a4f3e2d1c0b).',
          ),
        ],
      }),
    },
    {
      at: 190,
      service: service({
        taskDefinition: td(6),
        runningCount: 2,
        deployments: [
          deployment({
            id: OURS,
            status: 'PRIMARY',
            taskDefinition: td(6),
            runningCount: 2,
            rolloutState: 'COMPLETED',
            rolloutStateReason: `ECS deployment ${OURS} completed.`,
          }),
        ],
        events: [
          event(188, `(service catalog) (deployment ${OURS}) deployment completed.`),
          event(188, '(service catalog) has reached a steady state.'),
        ],
      }),
    },
  ];
  expect(states(sequence)).toEqual(['in-progress', 'in-progress', 'in-progress', 'in-progress', 'completed']);
  const mid = evaluateDeployment(sequence[2]!.service, expectRev6, T0 + 75_000, DEADLINE);
  expect(mid).toMatchObject({
    final: false,
    rolloutState: 'IN_PROGRESS',
    running: 4,
    desired: 2,
    deployments: 2,
  });
  expect(mid.summary).toBe(
    'deploying catalog:6: IN_PROGRESS, 4/2 running, 0 pending, 0 failed task(s), 1 older deployment(s) left',
  );
  const end = evaluateDeployment(sequence[4]!.service, expectRev6, T0 + 190_000, DEADLINE);
  expect(end).toMatchObject({ final: true, summary: 'catalog:6 deployed: 2/2 tasks running' });
});

test("ECS's circuit breaker fails the deployment and rolls back: failed tasks are reported, then the rollback ends the wait", () => {
  const failing = (failedTasks: number) =>
    service({
      taskDefinition: td(6),
      runningCount: 2,
      pendingCount: 1,
      deployments: [
        deployment({
          id: OURS,
          status: 'PRIMARY',
          taskDefinition: td(6),
          pendingCount: 1,
          failedTasks,
          rolloutState: 'IN_PROGRESS',
          rolloutStateReason: `ECS deployment ${OURS} in progress.`,
        }),
        oldCompleted(2),
      ],
      events: [
        event(40 + failedTasks, '(service catalog) has started 1 tasks: (task 3a4b5c6d7e8f9a0b1c2d).'),
        event(
          39 + failedTasks,
          '(service catalog) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.',
        ),
      ],
    });
  const rolledBack = service({
    taskDefinition: td(7),
    runningCount: 2,
    deployments: [
      deployment({
        id: 'ecs-svc/8802246315930318520',
        status: 'PRIMARY',
        taskDefinition: td(7),
        runningCount: 2,
        rolloutState: 'IN_PROGRESS',
        rolloutStateReason: `ECS deployment circuit breaker: rolling back to deploymentId ${OLD}.`,
      }),
      deployment({
        id: OURS,
        status: 'ACTIVE',
        taskDefinition: td(6),
        failedTasks: 10,
        rolloutState: 'FAILED',
        rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
      }),
    ],
    events: [
      event(300, `(service catalog) rolling back to deployment ${OLD}.`),
      event(300, `(service catalog) deployment ${OURS} deployment failed: tasks failed to start.`),
    ],
  });
  const sequence = [
    { at: 45, service: failing(1) },
    { at: 120, service: failing(4) },
    { at: 300, service: rolledBack },
  ];
  expect(states(sequence)).toEqual(['in-progress', 'in-progress', 'rolled-back']);
  const progress = evaluateDeployment(failing(4), expectRev6, T0 + 120_000, DEADLINE);
  expect(progress.failedTasks).toBe(4);
  expect(progress.lastEvent).toContain('has started 1 tasks');
  const end = evaluateDeployment(rolledBack, expectRev6, T0 + 300_000, DEADLINE);
  expect(end.final).toBe(true);
  expect(end.summary).toBe(
    `ECS rolled the deployment of catalog:6 back to catalog:7: ECS deployment circuit breaker: tasks failed to start. ` +
      `(latest event: (service catalog) rolling back to deployment ${OLD}.)`,
  );
  // Once the failed deployment has drained away, the rollback event still tells what happened.
  const drained = { ...rolledBack, deployments: rolledBack.deployments!.slice(0, 1) };
  expect(evaluateDeployment(drained, expectRev6, T0 + 400_000, DEADLINE).state).toBe('rolled-back');
});

test('a circuit breaker without rollback: the deployment is FAILED on our revision', () => {
  const failed = service({
    taskDefinition: td(6),
    runningCount: 0,
    deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: false } },
    deployments: [
      deployment({
        id: OURS,
        status: 'PRIMARY',
        taskDefinition: td(6),
        failedTasks: 10,
        rolloutState: 'FAILED',
        rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
      }),
    ],
    events: [event(280, `(service catalog) deployment ${OURS} deployment failed: tasks failed to start.`)],
  });
  const v = evaluateDeployment(failed, expectRev6, T0 + 280_000, DEADLINE);
  expect(v).toMatchObject({ state: 'failed', final: true, failedTasks: 10 });
  expect(v.summary).toBe(
    'the deployment of catalog:6 failed: ECS deployment circuit breaker: tasks failed to start. ' +
      `(0/2 running, 0 pending, 10 failed task(s)); latest event: (service catalog) deployment ${OURS} deployment failed: tasks failed to start.`,
  );
});

test('a deployment still in progress when the deadline passes', () => {
  const stuck = service({
    taskDefinition: td(6),
    runningCount: 2,
    pendingCount: 2,
    deployments: [
      deployment({
        id: OURS,
        status: 'PRIMARY',
        taskDefinition: td(6),
        pendingCount: 2,
        rolloutState: 'IN_PROGRESS',
        rolloutStateReason: `ECS deployment ${OURS} in progress.`,
      }),
      oldCompleted(2),
    ],
    events: [
      event(
        590,
        '(service catalog) was unable to place a task because no container instance met all of its requirements.',
      ),
    ],
  });
  expect(evaluateDeployment(stuck, expectRev6, DEADLINE - 1, DEADLINE).state).toBe('in-progress');
  const late = evaluateDeployment(stuck, expectRev6, DEADLINE, DEADLINE);
  expect(late.state).toBe('deadline-passed');
  expect(late.summary).toContain('the deployment of catalog:6 did not complete by its deadline');
  expect(late.summary).toContain('unable to place a task');
  expect(late.summary).toContain('raise deploy.deadlineSeconds');
});

test('someone else deploys another revision meanwhile: superseded, not completed', () => {
  const other = service({
    taskDefinition: td(8),
    deployments: [
      deployment({
        id: 'ecs-svc/1111111111111111111',
        status: 'PRIMARY',
        taskDefinition: td(8),
        rolloutState: 'IN_PROGRESS',
      }),
      deployment({
        id: OURS,
        status: 'ACTIVE',
        taskDefinition: td(6),
        runningCount: 2,
        rolloutState: 'COMPLETED',
      }),
    ],
  });
  const v = evaluateDeployment(other, expectRev6, T0 + 60_000, DEADLINE);
  expect(v.state).toBe('superseded');
  expect(v.summary).toContain('the service now runs catalog:8, not catalog:6');
});

test("moto's one-deployment-forever shape completes by deployment id, which is why the activity tracks the id", () => {
  // What moto answers after UpdateService(taskDefinition: rev 6, forceNewDeployment): the service
  // names the new revision, its only deployment keeps the old one under a new id, COMPLETED.
  const motoAnswer = service({
    taskDefinition: td(6),
    deployments: [
      deployment({
        id: OURS,
        status: 'PRIMARY',
        taskDefinition: td(7),
        runningCount: 2,
        rolloutState: 'COMPLETED',
        rolloutStateReason: `ECS deployment ${OLD} completed.`,
      }),
    ],
  });
  expect(evaluateDeployment(motoAnswer, expectRev6, T0, DEADLINE).state).toBe('completed');
  expect(evaluateDeployment(motoAnswer, { taskDefinition: td(6) }, T0, DEADLINE).state).toBe('in-progress');
});
