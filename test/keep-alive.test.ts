import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { heartbeat } from '../src/activities/common';
import type { RollbackClient } from '../src/client';
import type { Plan, RollbackRequest, StepResult } from '../src/model';
import { Cleanup } from './rig/cleanup';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';

/**
 * The worker's keep-alive heartbeats every activity each second, repeating its last details. A
 * retried attempt must start from what the previous attempt recorded (an ECS wait keeps its
 * deadline there): the keep-alive of an attempt that recorded nothing must not wipe it.
 * Real worker, real server; the plan is one step of a test-only activity.
 */

const seen: unknown[] = [];

async function remember(): Promise<StepResult> {
  const { attempt, heartbeatDetails } = Context.current().info;
  seen.push(heartbeatDetails);
  if (attempt === 1) {
    heartbeat({ startedAtMs: 12345 });
    throw ApplicationFailure.retryable('first attempt fails after recording its start', 'TestRetry');
  }
  if (attempt === 2) {
    // Records nothing itself; the keep-alive beats (about twice) while it runs.
    await new Promise((r) => setTimeout(r, 2500));
    throw ApplicationFailure.retryable('second attempt fails without recording anything', 'TestRetry');
  }
  return {
    summary: 'third attempt',
    attempt,
    data: { details: heartbeatDetails as Record<string, unknown> },
  };
}

const cleanup = new Cleanup();
let client: RollbackClient;
let dir: string;
const taskQueue = testTaskQueue('keep-alive');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keep-alive-'));
  cleanup.add('the folder', () => rmSync(dir, { recursive: true, force: true }));
  const worker = await startWorker(taskQueue, undefined, { remember });
  cleanup.add('the worker', () => worker.stop());
  client = await connectClient(taskQueue);
  cleanup.add('the client', () => client.close());
});

afterAll(() => cleanup.run());

test('a retried attempt sees the heartbeat details of the attempt before the one that recorded nothing', async () => {
  const request: RollbackRequest = {
    rollbackId: `keep-alive-${Date.now()}`,
    target: `keep-alive-${Date.now()}`,
    kind: 'emergency',
    reason: 'test',
    requestedBy: 'alice',
    requestedAt: new Date().toISOString(),
  };
  const plan = {
    format: 3,
    rollbackId: request.rollbackId,
    target: request.target,
    kind: 'emergency',
    toVersion: 'v1',
    backupPath: join(dir, 'backup'),
    reportsDir: join(dir, 'reports'),
    approval: { required: false, approvers: [], quorum: 1, onTimeout: 'reject' },
    onFailure: { wait: false, timeoutSeconds: 60, default: 'compensate' },
    notify: [],
    steps: [
      {
        id: 'remember',
        title: 'Remember',
        role: 'change',
        activity: 'remember',
        input: {},
        retry: 'quick',
        undo: [],
      },
    ],
    finalSteps: [],
  } as unknown as Plan;
  const started = await client.start(request, plan);
  const result = await client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(seen).toEqual([undefined, { startedAtMs: 12345 }, { startedAtMs: 12345 }]);
  expect(result.record!.steps[0]).toMatchObject({ state: 'succeeded', attempts: 3 });
});
