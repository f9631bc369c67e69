import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import type { ContainerDefinition } from '@aws-sdk/client-ecs';
import {
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { RollbackClient } from '../src/client';
import { createActivities } from '../src/activities';
import type { FailureType, RollbackRequest } from '../src/model';
import { ConfigError } from '../src/targets/errors';
import { ecsDeploySchema, ecsTargetSchema, type EcsTarget } from '../src/targets/kinds/ecs';
import { planRollback } from '../src/targets/plan';
import { Cleanup } from './rig/cleanup';
import {
  CREDENTIAL_ENV,
  definitionOf,
  startEcsRig,
  testCredentials,
  type EcsRig,
  type Seeded,
} from './rig/ecs';
import { git } from './rig/fixture-repo';
import { MOTO_RUNNING_TASKS, type Moto } from './rig/moto';
import { scratchRoot } from './rig/sandbox';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';

/**
 * ECS rollbacks end to end: a real Temporal dev server and worker, moto's server standing in for
 * AWS (ECS, CloudWatch, ELBv2), real git repositories and a real build script. moto does not move
 * deployments along (see test/ecs-progress.test.ts for that logic); here it shows that the right
 * API calls are made, in the right order, and that the service ends on the right revision.
 */

const taskQueue = testTaskQueue('ecs');
const cleanup = new Cleanup();
let aws: EcsRig;
let moto: Moto;
let client: RollbackClient;
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(scratchRoot(), 'rb-ecs-'));
  cleanup.add(`remove ${root}`, () => rmSync(root, { recursive: true, force: true }));
  aws = await startEcsRig(root);
  cleanup.add('the ECS rig', () => aws.stop());
  moto = aws.moto;
  const worker = await startWorker(taskQueue);
  cleanup.add('the worker', () => worker.stop());
  client = await connectClient(taskQueue);
  cleanup.add('the client', () => client.close());
});

afterAll(() => cleanup.run());

// ---------------------------------------------------------------- running rollbacks

const { registerEcsTaskDefinitionVariant, revertAndPush } = createActivities();

/**
 * An ECS target whose rollbacks run straight through: no approval, and a step that fails for good
 * is compensated at once (the gates every kind shares are tested on their own).
 */
function ecsTarget(s: Seeded, extra: Record<string, unknown> = {}): EcsTarget {
  return ecsTargetSchema.parse({
    deploy: {
      type: 'ecs',
      cluster: s.cluster,
      service: s.service,
      region: moto.region,
      endpoint: moto.endpoint,
      containerName: 'app',
      deadlineSeconds: 30,
      pollSeconds: 0.5,
      ...extra,
    },
    reportsDir: join(root, s.name, 'reports'),
    approval: { required: { complete: false } },
    onFailure: { wait: { emergency: false, complete: false, partial: false }, timeoutSeconds: 60 },
  });
}

function requestFor(s: Seeded, overrides: Partial<RollbackRequest> = {}): RollbackRequest {
  return {
    rollbackId: `${s.name}-${Date.now()}`,
    target: `ecs-${s.name}`,
    kind: 'emergency',
    reason: 'catalog answers 5xx since the last deploy',
    impact: 'catalog search down for all users',
    requestedBy: 'alice',
    requestedAt: new Date().toISOString(),
    ...overrides,
  };
}

async function rollback(target: EcsTarget, request: RollbackRequest) {
  const plan = planRollback(target, request);
  const started = await client.start(request, plan);
  const result = await client.result(started.workflowId, started.runId);
  return { plan, ...result };
}

function step(record: { steps: { id: string }[] } | null, id: string) {
  return record?.steps.find((s) => s.id === id) as
    | {
        id: string;
        state: string;
        attempts: number;
        summary?: string;
        lastError?: string;
        errorType?: string;
      }
    | undefined;
}

// ---------------------------------------------------------------- the three rollbacks

describe('emergency rollback of an ECS service', () => {
  test('returns to the previous ACTIVE revision, skipping INACTIVE ones, and registers nothing', async () => {
    const s = await aws.seed(
      'emerg',
      [{ image: 'catalog:1.4.0' }, { image: 'catalog:1.5.0' }, { image: 'catalog:1.6.0' }],
      { current: 3, deregister: [2] },
    );
    const before = await aws.familyRevisions(s.family);
    const target = ecsTarget(s);
    const r = await rollback(target, requestFor(s));
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(await aws.serviceRevision(s)).toBe(`${s.family}:1`);
    expect(r.record!.fromVersion).toBe(`${s.family}:3`);
    expect(r.record!.steps.map((x) => x.id)).toEqual([
      'inspect',
      'resolve',
      'analyze',
      'incident',
      'update',
      'wait-deployment',
      'validate-service',
      'rollback-log',
    ]);
    expect(r.record!.steps.every((x) => x.state === 'succeeded')).toBe(true);
    expect(step(r.record, 'resolve')!.summary).toContain(`previous ACTIVE revision: ${s.family}:1`);
    expect(step(r.record, 'wait-deployment')!.summary).toContain(`${s.family}:1 deployed: 2/2 tasks running`);
    expect(await aws.familyRevisions(s.family)).toEqual(before);
    expect(readFileSync(join(target.reportsDir, r.plan.rollbackId, 'incident.md'), 'utf8')).toContain(
      `ECS service catalog (cluster ${s.cluster}, ${moto.region})`,
    );
  });

  test('goes to the revision the request names, as family:N or as a bare number', async () => {
    const s = await aws.seed(
      'emerg-named',
      [
        { image: 'catalog:1.0.0' },
        { image: 'catalog:1.1.0' },
        { image: 'catalog:1.2.0' },
        { image: 'catalog:1.3.0' },
      ],
      { current: 4 },
    );
    const target = ecsTarget(s);
    const first = await rollback(target, requestFor(s, { toVersion: `${s.family}:2` }));
    expect(first.error).toBeUndefined();
    expect(await aws.serviceRevision(s)).toBe(`${s.family}:2`);
    expect(first.plan.toVersion).toBe(`${s.family}:2`);

    const second = await rollback(target, requestFor(s, { toVersion: '1' }));
    expect(second.error).toBeUndefined();
    expect(second.record!.fromVersion).toBe(`${s.family}:2`);
    expect(await aws.serviceRevision(s)).toBe(`${s.family}:1`);
  });
});

describe('complete rollback of an ECS service', () => {
  test('reverts and pushes the bad commit, builds the reverted code, registers a revision that differs only in the image, deploys it', async () => {
    const dir = join(root, 'complete');
    const remote = join(dir, 'remote.git');
    const work = join(dir, 'work');
    const checkout = join(dir, 'checkout');
    await git(['init', '--quiet', '--bare', remote], root);
    await git(['init', '--quiet', work], root);
    writeFileSync(join(work, 'app.txt'), 'search: stable ranking\n');
    await git(['add', 'app.txt'], work);
    await git(['commit', '--quiet', '-m', 'catalog 1.4.0'], work);
    writeFileSync(join(work, 'app.txt'), 'search: broken ranking\n');
    await git(['commit', '--quiet', '-am', 'catalog 1.5.0: new ranking'], work);
    const bad = await git(['rev-parse', 'HEAD'], work);
    await git(['push', '--quiet', remote, 'main'], work);
    await git(['clone', '--quiet', remote, checkout], root);

    // The build-and-push command: builds only the reverted code, prints noise, then the tag.
    const build = join(dir, 'build-and-push.sh');
    writeFileSync(
      build,
      [
        '#!/usr/bin/env bash',
        'set -euo pipefail',
        'test "$(git rev-parse HEAD)" = "$ROLLBACK_COMMIT" || { echo "not at the reverted commit" >&2; exit 1; }',
        'if grep -q broken app.txt; then echo "the bad change is still there" >&2; exit 1; fi',
        'echo "built catalog at $ROLLBACK_COMMIT, pushed to registry.example:5000/catalog"',
        'printf "sha-%s\\n" "${ROLLBACK_COMMIT:0:12}"',
        '',
      ].join('\n'),
    );
    chmodSync(build, 0o755);

    const s = await aws.seed(
      'complete',
      [{ image: 'registry.example:5000/catalog:1.4.0' }, { image: 'registry.example:5000/catalog:1.5.0' }],
      { current: 2 },
    );
    const target = ecsTarget(s, {
      git: { path: checkout, remote: 'origin', branch: 'main' },
      build: { command: [build], imageTagPattern: '^sha-[0-9a-f]{12}$' },
    });
    const r = await rollback(target, requestFor(s, { kind: 'complete', commits: [bad.slice(0, 10)] }));
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);

    // The remote has the revert, on top of the bad commit (nothing forced), and it undoes it.
    const head = await git(['rev-parse', 'main'], remote);
    expect(await git(['rev-parse', 'main^'], remote)).toBe(bad);
    expect(await git(['log', '-1', '--format=%B', 'main'], remote)).toContain(`This reverts commit ${bad}.`);
    expect(await git(['log', '-1', '--format=%an', 'main'], remote)).toBe('alice');
    expect(await git(['show', 'main:app.txt'], remote)).toBe('search: stable ranking');

    // A new revision, identical to the bad one but for the app container's image.
    const image = `registry.example:5000/catalog:sha-${head.slice(0, 12)}`;
    expect(await aws.serviceRevision(s)).toBe(`${s.family}:3`);
    const source = definitionOf(await aws.taskDefinition(`${s.family}:2`));
    const registered = definitionOf(await aws.taskDefinition(`${s.family}:3`));
    const expected = structuredClone(source) as { containerDefinitions: ContainerDefinition[] };
    expected.containerDefinitions.find((c) => c.name === 'app')!.image = image;
    expect(registered).toEqual(expected);
    expect(step(r.record, 'build')!.summary).toBe(`built and pushed ${image}`);

    // Both side effects look before they act: a second run changes nothing.
    const again = await revertAndPush({
      repoPath: checkout,
      remote: 'origin',
      branch: 'main',
      commits: [bad],
      author: 'alice',
    });
    expect(again.data).toMatchObject({ pushed: false, commit: head, reverted: [], alreadyReverted: [bad] });
    expect(await git(['rev-parse', 'main'], remote)).toBe(head);
    const reRegistered = await registerEcsTaskDefinitionVariant({
      aws: { region: moto.region, endpoint: moto.endpoint },
      sourceTaskDefinitionArn: s.arns[1]!,
      containerName: 'app',
      image,
    });
    expect(reRegistered.data).toMatchObject({ reused: true, version: `${s.family}:3` });
    expect(await aws.familyRevisions(s.family)).toEqual([`${s.family}:1`, `${s.family}:2`, `${s.family}:3`]);
  });

  test('a push rejected because the remote moved is rebased onto it and pushed again, never forced', async () => {
    const dir = join(root, 'revert-race');
    const remote = join(dir, 'remote.git');
    const work = join(dir, 'work');
    await git(['init', '--quiet', '--bare', remote], root);
    await git(['init', '--quiet', work], root);
    writeFileSync(join(work, 'app.txt'), 'stable\n');
    await git(['add', 'app.txt'], work);
    await git(['commit', '--quiet', '-m', 'good'], work);
    writeFileSync(join(work, 'bad.txt'), 'bad\n');
    await git(['add', 'bad.txt'], work);
    await git(['commit', '--quiet', '-m', 'bad'], work);
    const bad = await git(['rev-parse', 'HEAD'], work);
    await git(['push', '--quiet', remote, 'main'], work);
    // Someone else's commit, pushed to main while our revert is being pushed (by the hook below).
    writeFileSync(join(work, 'other.txt'), 'a colleague\n');
    await git(['add', 'other.txt'], work);
    await git(['commit', '--quiet', '-m', 'a colleague lands a fix'], work);
    const concurrent = await git(['rev-parse', 'HEAD'], work);
    await git(['push', '--quiet', remote, 'HEAD:refs/heads/concurrent'], work);
    const hook = join(remote, 'hooks', 'pre-receive');
    writeFileSync(
      hook,
      [
        '#!/bin/sh',
        'cat >/dev/null',
        'if [ ! -e moved-once ]; then',
        '  touch moved-once',
        '  env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main refs/heads/concurrent',
        'fi',
        '',
      ].join('\n'),
    );
    chmodSync(hook, 0o755);

    const r = await revertAndPush({
      remoteUrl: remote,
      branch: 'main',
      commits: [bad],
      author: 'Bob <bob@example.com>',
    });
    expect(r.summary).toContain('after 1 rebase(s) onto a remote that moved');
    const head = await git(['rev-parse', 'main'], remote);
    expect(r.data).toMatchObject({ commit: head, pushed: true, reverted: [bad] });
    expect(existsSync(join(remote, 'moved-once'))).toBe(true);
    // The colleague's commit stays: the revert sits on top of it.
    expect(await git(['rev-parse', 'main^'], remote)).toBe(concurrent);
    expect(await git(['log', '-1', '--format=%an <%ae>', 'main'], remote)).toBe('Bob <bob@example.com>');
    expect(await git(['ls-tree', '--name-only', 'main'], remote)).toBe('app.txt\nother.txt');
  });
});

describe('partial rollback of an ECS service', () => {
  test('registers a revision that differs only in the flags, deploys it; a second registration reuses it', async () => {
    const s = await aws.seed(
      'partial',
      [{ image: 'catalog:1.5.0', env: { QURATOR: 'true', LOG_LEVEL: 'info', REGION_HINT: 'eu' } }],
      { current: 1 },
    );
    const target = ecsTarget(s, { featureFlags: { QURATOR: 'false', RANKING_V2: 'off' } });
    const r = await rollback(target, requestFor(s, { kind: 'partial' }));
    expect(r.error).toBeUndefined();
    expect(r.plan.toVersion).toBe('flags:QURATOR=false,RANKING_V2=off');
    expect(await aws.serviceRevision(s)).toBe(`${s.family}:2`);

    const source = definitionOf(await aws.taskDefinition(`${s.family}:1`));
    const registered = definitionOf(await aws.taskDefinition(`${s.family}:2`));
    const expected = structuredClone(source) as { containerDefinitions: ContainerDefinition[] };
    expected.containerDefinitions.find((c) => c.name === 'app')!.environment = [
      { name: 'QURATOR', value: 'false' },
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'REGION_HINT', value: 'eu' },
      { name: 'RANKING_V2', value: 'off' },
    ];
    expect(registered).toEqual(expected);

    const again = await registerEcsTaskDefinitionVariant({
      aws: { region: moto.region, endpoint: moto.endpoint },
      sourceTaskDefinitionArn: s.arns[0]!,
      containerName: 'app',
      environment: { QURATOR: 'false', RANKING_V2: 'off' },
    });
    expect(again.data).toMatchObject({ reused: true, version: `${s.family}:2` });
    expect(await aws.familyRevisions(s.family)).toEqual([`${s.family}:1`, `${s.family}:2`]);
  });
});

// ---------------------------------------------------------------- checks and undo

describe('checks after the deployment', () => {
  test('an alarm in ALARM fails validation naming it, and the undo returns the service to its starting revision', async () => {
    const s = await aws.seed('alarm', [{ image: 'catalog:1.5.0' }], { current: 1 });
    const cw = new CloudWatchClient({
      region: moto.region,
      endpoint: moto.endpoint,
      credentials: testCredentials(),
    });
    const elb = new ElasticLoadBalancingV2Client({
      region: moto.region,
      endpoint: moto.endpoint,
      credentials: testCredentials(),
    });
    try {
      const alarms = ['catalog-alarm-latency', 'catalog-alarm-5xx'];
      for (const name of alarms) {
        await cw.send(
          new PutMetricAlarmCommand({
            AlarmName: name,
            Namespace: 'AWS/ApplicationELB',
            MetricName: name.endsWith('5xx') ? 'HTTPCode_Target_5XX_Count' : 'TargetResponseTime',
            Statistic: 'Sum',
            Period: 60,
            EvaluationPeriods: 1,
            Threshold: 1,
            ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          }),
        );
      }
      // moto never evaluates alarms from metrics: set the state the way an operator's drill would.
      await cw.send(
        new SetAlarmStateCommand({
          AlarmName: 'catalog-alarm-5xx',
          StateValue: 'ALARM',
          StateReason: '5xx above 1/min',
        }),
      );
      const tg = await elb.send(
        new CreateTargetGroupCommand({ Name: 'catalog-alarm', TargetType: 'lambda' }),
      );
      const targetGroupArn = tg.TargetGroups![0]!.TargetGroupArn!;
      await elb.send(
        new RegisterTargetsCommand({
          TargetGroupArn: targetGroupArn,
          Targets: [{ Id: 'arn:aws:lambda:eu-west-1:123456789012:function:catalog' }],
        }),
      );

      const target = ecsTarget(s, { featureFlags: { QURATOR: 'false' }, alarms, targetGroupArn });
      const r = await rollback(target, requestFor(s, { kind: 'partial' }));
      expect(r.ok).toBe(false);
      expect(r.error).toContain('failed at step "Check alarms are OK');
      expect(r.error).toContain('catalog-alarm-5xx is ALARM (5xx above 1/min)');
      expect(r.error).not.toContain('catalog-alarm-latency is');
      expect(step(r.record, 'validate-service')!.state).toBe('succeeded');
      expect(step(r.record, 'validate-targets')!.summary).toBe(
        '1/1 targets healthy in targetgroup/catalog-alarm/' + targetGroupArn.split('/').pop(),
      );
      expect(r.record!.failure).toMatchObject({ stepId: 'validate-alarms' });
      expect(step(r.record, 'validate-alarms')).toMatchObject({ state: 'failed', attempts: 3 });
      expect(r.record!.status).toBe('compensated');
      expect(r.record!.undos).toEqual([
        expect.objectContaining({ stepId: 'update', activity: 'updateEcsService', state: 'succeeded' }),
      ]);
      expect(await aws.serviceRevision(s)).toBe(`${s.family}:1`);
    } finally {
      cw.destroy();
      elb.destroy();
    }
  });
});

describe('a deployment that does not complete', () => {
  test('the wait step gives up at the deadline, naming the counts, and the undo returns the service to its starting revision', async () => {
    // moto starts MOTO_RUNNING_TASKS tasks whatever the desired count: one short, it stays IN_PROGRESS.
    const s = await aws.seed('stuck', [{ image: 'catalog:1.4.0' }, { image: 'catalog:1.5.0' }], {
      current: 2,
      desiredCount: MOTO_RUNNING_TASKS + 1,
    });
    const target = ecsTarget(s, { deadlineSeconds: 3 });
    const started = Date.now();
    const r = await rollback(target, requestFor(s));
    expect(r.ok).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(r.error).toContain(`the deployment of ${s.family}:1 did not complete by its deadline`);
    expect(r.error).toContain(`IN_PROGRESS, ${MOTO_RUNNING_TASKS}/${MOTO_RUNNING_TASKS + 1} running`);
    // Not retried: a deadline that passed does not come back.
    expect(r.record!.failure).toMatchObject({
      stepId: 'wait-deployment',
      type: 'EcsDeployment-deadline-passed',
    });
    expect(step(r.record, 'wait-deployment')).toMatchObject({
      state: 'failed',
      attempts: 1,
      errorType: 'EcsDeployment-deadline-passed',
    });
    expect(r.record!.undos).toEqual([
      expect.objectContaining({ stepId: 'update', activity: 'updateEcsService', state: 'succeeded' }),
    ]);
    expect(await aws.serviceRevision(s)).toBe(`${s.family}:2`);
  });
});

// ---------------------------------------------------------------- bad input

describe('bad input: a clear error, and nothing changed', () => {
  async function expectNothingChanged(s: Seeded, revision: string, revisions: string[]) {
    expect(await aws.serviceRevision(s)).toBe(revision);
    expect(await aws.familyRevisions(s.family)).toEqual(revisions);
  }

  /** A rollback that fails at `stepId` with a failure of `type`, before anything changed. */
  async function failingRollback(
    s: Seeded,
    target: ReturnType<typeof ecsTarget>,
    over: Partial<RollbackRequest>,
    failsAt: { stepId: string; type: FailureType },
  ) {
    const r = await rollback(target, requestFor(s, over));
    expect(r.ok).toBe(false);
    expect(r.record!.failure).toMatchObject(failsAt);
    expect(step(r.record, failsAt.stepId)).toMatchObject({ state: 'failed', errorType: failsAt.type });
    // Nothing was changed, so nothing had to be undone.
    expect(r.record!.undos).toEqual([]);
    expect(step(r.record, 'update')!.state).toBe('pending');
    return r;
  }

  test('an unknown cluster, an unknown service', async () => {
    const s = await aws.seed('unknown', [{ image: 'catalog:1' }, { image: 'catalog:2' }], { current: 2 });
    const revisions = await aws.familyRevisions(s.family);

    const noCluster = await failingRollback(
      s,
      ecsTarget({ ...s, cluster: 'no-such-cluster' }),
      {},
      {
        stepId: 'inspect',
        type: 'EcsClusterNotFound',
      },
    );
    expect(noCluster.error).toContain(
      `ECS cluster "no-such-cluster" not found in ${moto.region} at ${moto.endpoint}; check deploy.cluster and deploy.region`,
    );
    expect(step(noCluster.record, 'inspect')).toMatchObject({ state: 'failed', attempts: 1 });

    const noService = await failingRollback(
      s,
      ecsTarget({ ...s, service: 'no-such-service' }),
      {},
      {
        stepId: 'inspect',
        type: 'EcsServiceNotFound',
      },
    );
    expect(noService.error).toContain(
      `ECS service "no-such-service" not found in cluster "${s.cluster}" (${moto.region} at ${moto.endpoint}); services in that cluster: catalog; check deploy.service`,
    );
    await expectNothingChanged(s, `${s.family}:2`, revisions);
  });

  test('a family with no previous ACTIVE revision', async () => {
    const s = await aws.seed('noprev', [{ image: 'catalog:1' }, { image: 'catalog:2' }], {
      current: 2,
      deregister: [1],
    });
    const revisions = await aws.familyRevisions(s.family);
    const r = await failingRollback(
      s,
      ecsTarget(s),
      {},
      { stepId: 'resolve', type: 'EcsNoPreviousRevision' },
    );
    expect(r.error).toContain(
      `family "${s.family}" has no ACTIVE revision before ${s.family}:2 (ACTIVE revisions: 2; deregistered ones cannot be deployed)`,
    );
    expect(step(r.record, 'resolve')).toMatchObject({ state: 'failed', attempts: 1 });
    await expectNothingChanged(s, `${s.family}:2`, revisions);
  });

  test('a revision of another family, and an INACTIVE one', async () => {
    const s = await aws.seed(
      'otherfam',
      [{ image: 'catalog:1' }, { image: 'catalog:2' }, { image: 'catalog:3' }],
      {
        current: 3,
        deregister: [1],
      },
    );
    await aws.seed('otherfam-b', [{ image: 'billing:1' }], { current: 1, family: 'billing-otherfam' });
    const revisions = await aws.familyRevisions(s.family);
    const other = await failingRollback(
      s,
      ecsTarget(s),
      { toVersion: 'billing-otherfam:1' },
      { stepId: 'resolve', type: 'EcsWrongFamily' },
    );
    expect(other.error).toContain(
      `billing-otherfam:1 is a revision of family "billing-otherfam", but the service runs family "${s.family}" (${s.family}:3); name a revision of ${s.family}`,
    );
    const inactive = await failingRollback(
      s,
      ecsTarget(s),
      { toVersion: `${s.family}:1` },
      { stepId: 'resolve', type: 'EcsRevisionInactive' },
    );
    expect(inactive.error).toContain(`${s.family}:1 is INACTIVE (deregistered): ECS cannot deploy it`);
    await expectNothingChanged(s, `${s.family}:3`, revisions);
  });

  test('missing AWS credentials', async () => {
    const s = await aws.seed('nocreds', [{ image: 'catalog:1' }, { image: 'catalog:2' }], { current: 2 });
    const revisions = await aws.familyRevisions(s.family);
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      const r = await failingRollback(
        s,
        ecsTarget(s),
        {},
        { stepId: 'inspect', type: 'AwsCredentialsMissing' },
      );
      expect(r.error).toContain(
        'no AWS credentials found on the worker. They come from the standard AWS SDK chain: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      );
      expect(step(r.record, 'inspect')).toMatchObject({ state: 'failed', attempts: 1 });
    } finally {
      Object.assign(process.env, CREDENTIAL_ENV);
    }
    await expectNothingChanged(s, `${s.family}:2`, revisions);
  });

  test('mistakes in the request or config are refused at planning, before anything starts', () => {
    const s: Seeded = { name: 'plan', cluster: 'c', service: 'catalog', family: 'catalog', arns: [] };
    const target = ecsTarget(s);
    const plan =
      (over: Partial<RollbackRequest>, t = target) =>
      () =>
        planRollback(t, requestFor(s, over));
    expect(plan({ toVersion: 'v1.2.3' })).toThrow(ConfigError);
    expect(plan({ toVersion: 'v1.2.3' })).toThrow(
      '"v1.2.3" is not a task-definition revision: use family:REVISION',
    );
    expect(plan({ kind: 'complete', commits: ['abc1234'] })).toThrow(
      'cannot do a complete rollback: deploy.git is missing',
    );
    expect(
      plan(
        { kind: 'complete' },
        ecsTarget(s, { git: { path: '/srv/catalog' }, build: { command: ['make'] } }),
      ),
    ).toThrow('a complete rollback needs the offending commits');
    expect(plan({ kind: 'partial' })).toThrow('has no deploy.featureFlags');
    expect(() =>
      ecsDeploySchema.parse({ type: 'ecs', cluster: 'c', service: 's', region: 'eu-west-1', deadline: 5 }),
    ).toThrow(/unrecognized key/i);
  });
});

describe('an ECS target through rollback.yaml and the real CLI', () => {
  test('config check and plan read the ECS section; a partial rollback waits for approval, is approved and watched to the end', async () => {
    const s = await aws.seed('cli', [{ image: 'catalog:2.0.0' }, { image: 'catalog:2.1.0' }], { current: 2 });
    const configFile = join(root, 'cli-rollback.yaml');
    const { stringify } = await import('yaml');
    writeFileSync(
      configFile,
      stringify({
        version: 1,
        approvers: ['carol'],
        targets: {
          'catalog-cli': {
            deploy: {
              type: 'ecs',
              cluster: s.cluster,
              service: s.service,
              region: moto.region,
              endpoint: moto.endpoint,
              containerName: 'app',
              deadlineSeconds: 30,
              pollSeconds: 0.5,
              featureFlags: { QURATOR: 'false' },
            },
            reportsDir: join(root, 'cli', 'reports'),
            approval: { required: { partial: true } },
          },
        },
      }),
    );
    const { runCli } = await import('./rig/rollback');
    const check = await runCli(['--config', configFile, 'config', 'check']);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('ok, 1 target: catalog-cli');

    const plan = await runCli([
      '--config',
      configFile,
      'plan',
      'emergency',
      '--target',
      'catalog-cli',
      '--json',
    ]);
    expect(plan.code).toBe(0);
    const parsed = JSON.parse(plan.stdout) as {
      steps: { id: string; undo: { activity: string }[] }[];
      approval: { required: boolean };
    };
    expect(parsed.approval.required).toBe(false);
    expect(parsed.steps.find((x) => x.id === 'update')!.undo.map((u) => u.activity)).toEqual([
      'updateEcsService',
    ]);

    const start = await runCli([
      '--config',
      configFile,
      'start',
      'partial',
      '--target',
      'catalog-cli',
      '--reason',
      'qurator breaks search',
      '--as',
      'alice',
      '--task-queue',
      taskQueue,
      '--json',
    ]);
    expect(start.code).toBe(0);
    const { workflowId } = JSON.parse(start.stdout) as { workflowId: string };
    const { waitForStatus } = await import('./rig/rollback');
    await waitForStatus(client, workflowId, 'awaiting-approval');
    expect(await aws.serviceRevision(s)).toBe(`${s.family}:2`);
    const watch = runCli(['watch', workflowId]);
    const approve = await runCli(['approve', workflowId, '--as', 'carol']);
    expect(approve.code).toBe(0);
    const watched = await watch;
    expect(watched.stderr).toContain('approved by carol');
    expect(watched.stdout).toContain('Rollback succeeded.');
    expect(watched.code).toBe(0);
    expect(await aws.serviceRevision(s)).toBe(`${s.family}:3`);
    const env = (await aws.taskDefinition(`${s.family}:3`)).containerDefinitions!.find(
      (c) => c.name === 'app',
    )!.environment!;
    expect(env).toContainEqual({ name: 'QURATOR', value: 'false' });
  });
});
