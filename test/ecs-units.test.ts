import type { TaskDefinition } from '@aws-sdk/client-ecs';
import { evaluateAlarms, evaluateServiceStable, evaluateTargetHealth } from '../src/activities/ecs/checks';
import {
  imageFromBuildOutput,
  previousRevision,
  sameDefinition,
  variantOf,
  withTag,
} from '../src/activities/ecs/task-definitions';
import { parseRevisionRef, sameRevision } from '../src/targets/kinds/ecs/revision';

/** The pure parts of the ECS checks and task-definition handling, on cases moto cannot produce. */

const arn = (family: string, rev: number) =>
  `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:${rev}`;

describe('revisions', () => {
  test('names: family:N, a bare number, an ARN; anything else is refused', () => {
    expect(parseRevisionRef('catalog:12')).toEqual({ family: 'catalog', revision: 12 });
    expect(parseRevisionRef('12')).toEqual({ revision: 12 });
    expect(parseRevisionRef(arn('catalog', 3))).toEqual({ family: 'catalog', revision: 3 });
    for (const bad of ['v1.2.3', '0', 'catalog:', ':3', 'catalog:3:4', 'catalog:-1']) {
      expect(parseRevisionRef(bad)).toBeNull();
    }
    expect(sameRevision('catalog:3', arn('catalog', 3))).toBe(true);
    expect(sameRevision('catalog:3', arn('catalog', 30))).toBe(false);
  });

  test('previous: the newest ACTIVE revision below the current one, of that family only, whatever the order', () => {
    const active = [
      arn('catalog', 1),
      arn('catalog', 5),
      arn('catalog-worker', 6),
      arn('catalog', 3),
      arn('catalog', 7),
    ];
    expect(previousRevision(active, { family: 'catalog', revision: 7 })?.revision).toBe(5);
    expect(previousRevision(active, { family: 'catalog', revision: 4 })?.revision).toBe(3);
    expect(previousRevision(active, { family: 'catalog', revision: 1 })).toBeUndefined();
  });
});

describe('variants', () => {
  const source: TaskDefinition = {
    taskDefinitionArn: arn('catalog', 4),
    family: 'catalog',
    revision: 4,
    status: 'ACTIVE',
    networkMode: 'awsvpc',
    cpu: '512',
    memory: '1024',
    requiresCompatibilities: ['FARGATE'],
    executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
    containerDefinitions: [
      {
        name: 'app',
        image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalog:1.5.0',
        environment: [
          { name: 'QURATOR', value: 'true' },
          { name: 'LOG_LEVEL', value: 'info' },
        ],
        secrets: [
          { name: 'DB_PASSWORD', valueFrom: 'arn:aws:ssm:eu-west-1:123456789012:parameter/catalog/db' },
        ],
      },
    ],
    registeredAt: new Date(),
    requiresAttributes: [{ name: 'ecs.capability.execution-role-awslogs' }],
    compatibilities: ['EC2', 'FARGATE'],
  };

  test('a variant keeps everything but the change, drops what ECS adds, and keeps variable order', () => {
    const v = variantOf(source, 'app', { environment: { QURATOR: 'false', NEW: '1' } });
    expect(v).not.toHaveProperty('revision');
    expect(v).not.toHaveProperty('requiresAttributes');
    expect(v.executionRoleArn).toBe(source.executionRoleArn);
    expect(v.containerDefinitions![0]!.environment).toEqual([
      { name: 'QURATOR', value: 'false' },
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'NEW', value: '1' },
    ]);
    expect(source.containerDefinitions![0]!.environment![0]!.value).toBe('true');
    expect(sameDefinition(v, variantOf(source, 'app', {}))).toBe(false);
    expect(
      sameDefinition(
        variantOf(source, 'app', { environment: { QURATOR: 'true' } }),
        variantOf(source, 'app', {}),
      ),
    ).toBe(true);
  });

  test('a flag that is a secret, or a container that does not exist, is refused with the fix', () => {
    expect(() => variantOf(source, 'app', { environment: { DB_PASSWORD: 'x' } })).toThrow(
      'DB_PASSWORD is a secret of container "app"',
    );
    expect(() => variantOf(source, 'web', { image: 'x:1' })).toThrow(
      'task definition catalog:4 has no container "web" (it has: app); set deploy.containerName',
    );
  });

  test('the image a build printed: a bare tag, a full reference, a pattern', () => {
    const current = 'registry.example:5000/catalog:1.5.0';
    expect(withTag(current, 'abc')).toBe('registry.example:5000/catalog:abc');
    expect(withTag('registry.example:5000/catalog', 'abc')).toBe('registry.example:5000/catalog:abc');
    expect(
      imageFromBuildOutput('step 1\nstep 2\nsha-0123456789ab\n\n', current, '^sha-[0-9a-f]{12}$'),
    ).toEqual({
      image: 'registry.example:5000/catalog:sha-0123456789ab',
      tag: 'sha-0123456789ab',
    });
    expect(imageFromBuildOutput('pushed\nother.example/catalog:2.0.0', current)).toEqual({
      image: 'other.example/catalog:2.0.0',
      tag: '2.0.0',
    });
    expect(() => imageFromBuildOutput('', current)).toThrow('printed nothing');
    expect(() => imageFromBuildOutput('Build finished OK!', current)).toThrow('is neither an image tag');
    expect(() => imageFromBuildOutput('latest', current, '^sha-')).toThrow(
      'the build produced tag "latest", which does not match build.imageTagPattern ^sha-',
    );
  });
});

describe('checks', () => {
  test('load balancer targets: the healthy share against the minimum, naming the unhealthy ones', () => {
    const t = (id: string, State: 'healthy' | 'unhealthy' | 'draining', Reason?: string) => ({
      Target: { Id: id, Port: 8080 },
      TargetHealth: { State, Reason: Reason as never },
    });
    const targets = [
      t('10.0.1.5', 'healthy'),
      t('10.0.2.7', 'healthy'),
      t('10.0.3.9', 'unhealthy', 'Target.ResponseCodeMismatch'),
      t('10.0.1.8', 'healthy'),
    ];
    expect(evaluateTargetHealth(targets, 0.75, 'tg')).toMatchObject({ ok: true, healthy: 3, total: 4 });
    const v = evaluateTargetHealth(targets, 1, 'tg');
    expect(v.ok).toBe(false);
    expect(v.summary).toBe(
      'only 3/4 targets healthy (75%, need 100%) in tg: 10.0.3.9:8080 unhealthy (Target.ResponseCodeMismatch)',
    );
    expect(evaluateTargetHealth([], 0, 'tg')).toMatchObject({ ok: false });
  });

  test('alarms: each one not OK is named with its state, and a missing one is reported', () => {
    const v = evaluateAlarms(
      ['a', 'b', 'c', 'd'],
      [
        { name: 'a', state: 'OK' },
        { name: 'b', state: 'ALARM', reason: 'Threshold Crossed' },
        { name: 'c', state: 'INSUFFICIENT_DATA' },
      ],
    );
    expect(v.ok).toBe(false);
    expect(v.missing).toEqual(['d']);
    expect(v.summary).toBe(
      'b is ALARM (Threshold Crossed); c is INSUFFICIENT_DATA; no CloudWatch alarm named d (check deploy.alarms and the region)',
    );
    expect(evaluateAlarms(['a'], [{ name: 'a', state: 'OK' }]).ok).toBe(true);
  });

  test('service stable: on the revision, running = desired, no failed deployment', () => {
    const base = { taskDefinition: arn('catalog', 6), desiredCount: 3, runningCount: 3, pendingCount: 0 };
    expect(evaluateServiceStable(base, 'catalog:6').ok).toBe(true);
    expect(evaluateServiceStable({ ...base, runningCount: 2, pendingCount: 1 }, 'catalog:6').summary).toBe(
      'catalog:6 is not stable: 2/3 tasks running, 1 pending',
    );
    expect(evaluateServiceStable(base, 'catalog:5').summary).toBe(
      'the service runs catalog:6, expected catalog:5',
    );
  });
});
