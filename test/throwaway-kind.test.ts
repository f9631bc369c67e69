import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import type { RollbackClient } from '../src/client';
import { ref, type Plan, type RollbackRequest, type StepResult } from '../src/model';
import { absolutePath, commonTargetFields, refSchema } from '../src/targets/common';
import { BUILTIN_KINDS, TargetKinds, type KindPlanner, type TargetKind } from '../src/targets/kinds';
import { parseConfig } from '../src/targets/load';
import { planRollback } from '../src/targets/plan';
import { Cleanup } from './rig/cleanup';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';

/**
 * The architecture's promise: a new target kind is a module (schema, planners, its activities) and
 * one registry entry; the workflow runs it without a change. This kind lives in this file only: a
 * "flag file" whose one line is the deployed version. Nothing under src/ knows it.
 */

const flagTargetSchema = z.strictObject({
  ...commonTargetFields,
  deploy: z.strictObject({ type: z.literal('flag-file'), file: absolutePath, stableVersion: refSchema }),
});
type FlagTarget = z.infer<typeof flagTargetSchema>;

/**
 * The kind's one activity: reads the deployed version from the file, and writes `version` into it
 * when one is given.
 */
async function flagVersion(input: { file: string; version?: string }): Promise<StepResult> {
  const previous = readFileSync(input.file, 'utf8').trim();
  const attempt = Context.current().info.attempt;
  if (input.version === undefined)
    return { summary: `flag says ${previous}`, attempt, data: { version: previous } };
  if (input.version === 'explode')
    throw ApplicationFailure.nonRetryable('refusing to write explode', 'FlagRefused');
  writeFileSync(input.file, `${input.version}\n`);
  return {
    summary: `flag ${previous} → ${input.version}`,
    attempt,
    data: { previous, version: input.version },
  };
}
const flagActivities = { flagVersion };
type FlagActivities = typeof flagActivities;

const flagPlanner: KindPlanner<FlagTarget, FlagActivities> = (target, request) => {
  const toVersion = request.toVersion ?? target.deploy.stableVersion;
  return {
    toVersion,
    backupPath: join(target.reportsDir, 'no-backup'),
    affected: [target.deploy.file],
    steps: [
      {
        id: 'inspect',
        title: 'Read the deployed version',
        role: 'inspect',
        reportsVersion: 'from',
        activity: 'flagVersion',
        input: { file: target.deploy.file },
        retry: 'quick',
        undo: [],
      },
      {
        id: 'set',
        title: `Write ${toVersion} into the flag file`,
        role: 'start',
        activity: 'flagVersion',
        input: { file: target.deploy.file, version: toVersion },
        retry: 'quick',
        // Undo calls are bound when their step starts: they name what an earlier step saw.
        undo: [
          {
            activity: 'flagVersion',
            input: { file: target.deploy.file, version: ref('inspect.version') },
            retry: 'quick',
          },
        ],
      },
      {
        id: 'again',
        title: 'Write the version again (refused for "explode")',
        role: 'validate',
        activity: 'flagVersion',
        input: { file: target.deploy.file, version: request.reason === 'explode' ? 'explode' : toVersion },
        retry: 'quick',
        undo: [],
      },
    ],
  };
};

const flagKind: TargetKind<FlagTarget, FlagActivities> = {
  schema: flagTargetSchema,
  plan: { emergency: flagPlanner, complete: flagPlanner, partial: flagPlanner },
  preflight: () => [],
};

// The registry with the throwaway kind: the built-ins and one line.
const kinds = new TargetKinds({ ...BUILTIN_KINDS, 'flag-file': flagKind });

const cleanup = new Cleanup();
let client: RollbackClient;
let dir: string;
const taskQueue = testTaskQueue('throwaway-kind');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'throwaway-kind-'));
  cleanup.add('the folder', () => rmSync(dir, { recursive: true, force: true }));
  const worker = await startWorker(taskQueue, undefined, flagActivities);
  cleanup.add('the worker', () => worker.stop());
  client = await connectClient(taskQueue);
  cleanup.add('the client', () => client.close());
});

afterAll(() => cleanup.run());

function planFor(reason: string): { request: RollbackRequest; plan: Plan } {
  const config = parseConfig(
    [
      'targets:',
      '  flags:',
      '    deploy:',
      '      type: flag-file',
      `      file: ${join(dir, 'flag')}`,
      '      stableVersion: v1.0.0',
      `    reportsDir: ${join(dir, 'reports')}`,
    ].join('\n'),
    join(dir, 'rollback.yaml'),
    kinds,
  );
  const request: RollbackRequest = {
    rollbackId: `r-${reason.replace(/\W/g, '-')}-${Date.now()}`,
    target: 'flags',
    kind: 'emergency',
    reason,
    requestedBy: 'alice',
    requestedAt: new Date().toISOString(),
  };
  // The plan's activities are the kind's own: data to the workflow, unknown to src/.
  const plan = planRollback(config.targets.flags!, request, { approvers: [] }, kinds) as unknown as Plan;
  return { request, plan };
}

test('a target kind defined only in the test folder is configured, planned and rolled back by the unchanged workflow', async () => {
  writeFileSync(join(dir, 'flag'), 'v2.0.0-bad\n');
  const { request, plan } = planFor('bad release');
  // The kind's read-only step goes first, before the incident record: the registry's rule, not the kind's.
  expect(plan.steps.map((s) => s.activity)).toEqual([
    'flagVersion',
    'recordIncident',
    'flagVersion',
    'flagVersion',
  ]);
  const started = await client.start(request, plan);
  const result = await client.result(started.workflowId, started.runId);
  expect(result.ok).toBe(true);
  expect(result.record).toMatchObject({
    status: 'succeeded',
    fromVersion: 'v2.0.0-bad',
    toVersion: 'v1.0.0',
  });
  expect(result.record!.steps.find((s) => s.id === 'set')!.summary).toBe('flag v2.0.0-bad → v1.0.0');
  expect(readFileSync(join(dir, 'flag'), 'utf8')).toBe('v1.0.0\n');
  // The built-in steps around the kind's ran too: the incident and the rollback log were written.
  expect(readFileSync(join(dir, 'reports', 'rollback-log.md'), 'utf8')).toContain(request.rollbackId);
});

test("the workflow undoes the throwaway kind's step through its own undo call when a later step fails", async () => {
  writeFileSync(join(dir, 'flag'), 'v2.0.0-bad\n');
  const { request, plan } = planFor('explode');
  const started = await client.start(request, plan);
  const result = await client.result(started.workflowId, started.runId);
  expect(result.ok).toBe(false);
  expect(result.record).toMatchObject({
    status: 'compensated',
    failure: { stepId: 'again', type: 'FlagRefused' },
  });
  expect(result.record!.undos).toEqual([expect.objectContaining({ stepId: 'set', state: 'succeeded' })]);
  // The undo wrote back what the inspect step had seen.
  expect(readFileSync(join(dir, 'flag'), 'utf8')).toBe('v2.0.0-bad\n');
});

test('an unknown deploy.type names the kinds this registry knows, the throwaway one included', () => {
  expect(() =>
    parseConfig(
      ['targets:', '  x:', '    deploy:', '      type: flagfile', `    reportsDir: ${dir}`].join('\n'),
      join(dir, 'rollback.yaml'),
      kinds,
    ),
  ).toThrow(
    /unknown deploy.type "flagfile"; use one of git, npm-package, blue-green, container, ecs, flag-file/,
  );
});
