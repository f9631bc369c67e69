import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FailureMode } from './rig/fixture-repo';
import { eventually } from './rig/eventually';
import { rollbackSuite } from './rig/suite';
import { health, pm2, waitForHttp } from './rig/sandbox';
import { runCli, startRollback, waitForStatus } from './rig/rollback';

const suite = rollbackSuite('decisions');

/**
 * A healthy service and a partial rollback (QURATOR=false) whose latency check can never pass
 * (a budget of 0.001 ms): the check fails for good after its retries and the workflow waits for a
 * decision, as a real slow service would make it.
 */
async function partialThatFailsLatency(name: string) {
  const sb = await suite.sandbox({
    name,
    badMode: 'none',
    configure: (t) => {
      t.partial = { flags: { QURATOR: 'false' } };
      t.approval = { approvers: ['carol'] };
      t.onFailure = { timeoutSeconds: 600 };
      t.validate.latency.maxAverageMs = 0.001;
    },
  });
  const envBefore = readFileSync(join(sb.deployPath, '.env'), 'utf8');
  const started = await startRollback(suite.client, sb, { kind: 'partial', requestedBy: 'alice' });
  const waiting = await waitForStatus(suite.client, started.workflowId, 'awaiting-decision');
  expect(waiting.awaitingDecision).toMatchObject({
    stepId: 'validate-latency',
    defaultDecision: 'compensate',
  });
  expect(waiting.awaitingDecision!.error).toContain('latency over budget');
  // The flag is set while we wait.
  expect((await health(sb.port)).body).toMatchObject({ features: { qurator: false } });
  return { sb, started, envBefore };
}

describe('an operator decides on a step that failed for good', () => {
  test('skip: the rollback goes on past the failed check', async () => {
    const { sb, started } = await partialThatFailsLatency('dec-skip');
    await expect(
      suite.client.act(started.workflowId, 'decide', { by: 'mallory', decision: 'skip' }),
    ).rejects.toThrow(/mallory may not decide/);
    const cli = await runCli([
      'decide',
      started.workflowId,
      'skip',
      '--as',
      'carol',
      '--comment',
      'latency is a known issue',
    ]);
    expect(cli.code).toBe(0);
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(true);
    expect(result.record!.steps.find((s) => s.id === 'validate-latency')).toMatchObject({ state: 'skipped' });
    expect(result.record!.decisions).toEqual([
      expect.objectContaining({ stepId: 'validate-latency', decision: 'skip', by: 'carol', via: 'update' }),
    ]);
    expect((await health(sb.port)).body).toMatchObject({ features: { qurator: false } });
  });

  test('compensate: the env file comes back byte for byte and the service runs with it', async () => {
    const { sb, started, envBefore } = await partialThatFailsLatency('dec-comp');
    expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).not.toBe(envBefore);
    await suite.client.act(started.workflowId, 'decide', { by: 'alice', decision: 'compensate' });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(false);
    expect(result.record!.status).toBe('compensated');
    expect(result.record!.failure).toMatchObject({ stepId: 'validate-latency' });
    expect(result.record!.undos.map((u) => u.activity)).toEqual(['restoreConfigFiles', 'restartService']);
    expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).toBe(envBefore);
    // The undo's restart ends once pm2 keeps the process up, not once it listens.
    await waitForHttp(`http://127.0.0.1:${sb.port}/health`);
    expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', features: { qurator: true } });
  });

  test('abort (sent as a signal): the rollback stops where it is, nothing is undone', async () => {
    const { sb, started, envBefore } = await partialThatFailsLatency('dec-abort');
    await suite.client.act(started.workflowId, 'decide', { by: 'carol', decision: 'abort' }, true);
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(false);
    expect(result.error).toContain('aborted by carol');
    expect(result.record!.status).toBe('aborted');
    expect(result.record!.undos).toEqual([]);
    expect(result.record!.decisions[0]).toMatchObject({ decision: 'abort', via: 'signal' });
    expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).not.toBe(envBefore);
    expect((await health(sb.port)).body).toMatchObject({ features: { qurator: false } });
  });

  test('cancel: `rollback cancel` runs the undos and the result says so', async () => {
    const { sb, started, envBefore } = await partialThatFailsLatency('dec-cancel');
    const cli = await runCli(['cancel', started.workflowId, '--wait']);
    expect(cli.stdout).toContain('[cancelled]');
    expect(cli.stdout).toMatch(/Rollback FAILED: .*was cancelled; undid 2 of 2 undo steps/);
    const record = await suite.client.progress(started.workflowId);
    expect(record.status).toBe('cancelled');
    expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).toBe(envBefore);
    await waitForHttp(`http://127.0.0.1:${sb.port}/health`);
    expect((await health(sb.port)).body).toMatchObject({ features: { qurator: true } });
  });

  test('retry after the cause is fixed: health fails until the service is warmed up, the operator retries, the rollback finishes', async () => {
    let readyFile = '';
    const sb = await suite.sandbox({
      name: 'dec-retry',
      // A release that answers "warming up" until a file exists: the cause an operator fixes.
      extraTags: [{ tag: 'v1.21.0', failureMode: 'warmup' as FailureMode }],
      configure: (t) => {
        t.approval = { approvers: ['carol'] };
        t.onFailure = { wait: { emergency: true }, timeoutSeconds: 600 };
        readyFile = join(t.backupDir, '..', 'warmed-up');
        t.service.env.WARMUP_UNTIL_FILE = readyFile;
        t.validate.health.timeoutSeconds = 1;
      },
    });
    const started = await startRollback(suite.client, sb, { toVersion: 'v1.21.0' });
    const waiting = await waitForStatus(suite.client, started.workflowId, 'awaiting-decision');
    expect(waiting.awaitingDecision).toMatchObject({ stepId: 'validate-health' });
    expect(waiting.steps.find((s) => s.id === 'validate-health')).toMatchObject({
      state: 'failed',
      attempts: 3,
    });

    writeFileSync(readyFile, '');
    const cli = await runCli(['decide', started.workflowId, 'retry', '--as', 'carol']);
    expect(cli.code).toBe(0);
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.error).toBeUndefined();
    expect(result.record!.steps.find((s) => s.id === 'validate-health')).toMatchObject({
      state: 'succeeded',
    });
    expect(result.record!.decisions).toEqual([
      expect.objectContaining({ stepId: 'validate-health', decision: 'retry', by: 'carol' }),
    ]);
    expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: '1.21.0' });
  });

  test('a check that fails in a later validation phase pauses for a decision, even where failures do not', async () => {
    const sb = await suite.sandbox({
      name: 'dec-phase',
      badMode: 'none',
      configure: (t) => {
        t.partial = { flags: { QURATOR: 'false' } };
        t.onFailure = { wait: { partial: false }, timeoutSeconds: 600 };
        t.validate = {
          phases: { shortTermAfterSeconds: 3 },
          health: { url: t.validate.health.url, timeoutSeconds: 1 },
        };
      },
    });
    const started = await startRollback(suite.client, sb, { kind: 'partial', requestedBy: 'alice' });
    // The service dies during the durable wait between the phases.
    await eventually(
      'the wait before the short-term phase',
      async () =>
        (await suite.client.progress(started.workflowId)).steps.find((s) => s.id === 'wait-short-term')
          ?.state === 'running',
      60_000,
    );
    pm2(sb.pm2Home, ['stop', `lightdash-${sb.target}`]);
    const waiting = await waitForStatus(suite.client, started.workflowId, 'awaiting-decision');
    expect(waiting.awaitingDecision).toMatchObject({ stepId: 'validate-health@short-term' });
    expect(waiting.steps.find((s) => s.id === 'validate-health')).toMatchObject({ state: 'succeeded' });
    await suite.client.act(started.workflowId, 'decide', { by: 'alice', decision: 'compensate' });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.record!.status).toBe('compensated');
    expect(result.record!.failure).toMatchObject({ stepId: 'validate-health@short-term' });
  });

  test('no decision before the timeout: the configured default (skip) applies, and the record says so', async () => {
    const sb = await suite.sandbox({
      name: 'dec-timeout',
      badMode: 'none',
      configure: (t) => {
        t.partial = { flags: { QURATOR: 'false' } };
        t.onFailure = { timeoutSeconds: 2, default: { partial: 'skip' } };
        t.validate.latency.maxAverageMs = 0.001;
      },
    });
    const started = await startRollback(suite.client, sb, { kind: 'partial' });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(true);
    expect(result.record!.decisions).toEqual([
      expect.objectContaining({
        stepId: 'validate-latency',
        decision: 'skip',
        by: 'timeout',
        via: 'timeout',
      }),
    ]);
    expect(result.record!.steps.find((s) => s.id === 'validate-latency')).toMatchObject({ state: 'skipped' });
    expect(result.record!.audit).toContainEqual(
      expect.objectContaining({ action: 'timeout', detail: 'default decision skip on validate-latency' }),
    );
  });
});
