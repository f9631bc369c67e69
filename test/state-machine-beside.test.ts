import { temporal } from '@temporalio/proto';
import { decideUpdate } from '../src/workflows/messages';
import { gate, type FakeCall } from './rig/fake-activities';
import { lightdashRollback, quietRuntime, runRollback } from './rig/time-skipping';

/**
 * The start's watch (the service stays up for its grace period) runs beside the validation that
 * follows it: on the time-skipping server with fake activities, whose calls are logged in the
 * order they start and end.
 */

quietRuntime();

const first = (calls: FakeCall[], activity: string, nth = 1) =>
  calls.filter((c) => c.activity === activity)[nth - 1]!;

function rollbackDeciding(wait: boolean) {
  return lightdashRollback({ kind: 'emergency' }, (t, fixture) => {
    t.validate = fixture.validate;
    t.onFailure = { wait: { emergency: wait }, timeoutSeconds: 600, default: { emergency: 'compensate' } };
  });
}

test('the checks run while the start still watches the service; the next step waits for both', async () => {
  const input = rollbackDeciding(false);
  const checksRan = gate();
  const run = await runRollback(input, {
    // The start is held until every check beside it has been called: run one after another,
    // the checks would never be called and the driver would give up.
    fakes: { block: { startService: { until: checksRan.until } } },
    drive: async (d) => {
      await d.called('checkHealth');
      await d.called('checkLatency');
      checksRan.release();
    },
  });
  expect(run.record.status).toBe('succeeded');
  const start = first(run.calls, 'startService');
  for (const check of ['checkHealth', 'checkMcp', 'checkLatency'])
    expect(first(run.calls, check).startSeq).toBeLessThan(start.endSeq!);
  // The checks still ran in their own order, one after another.
  expect(first(run.calls, 'checkMcp').startSeq).toBeGreaterThan(first(run.calls, 'checkHealth').endSeq!);
  // What follows the validation (the error-log mark) began only once the start's watch was over.
  expect(first(run.calls, 'markLogOffsets').startSeq).toBeGreaterThan(start.endSeq!);
  expect(run.record.steps.find((s) => s.id === 'start')).toMatchObject({ state: 'succeeded' });
  // The start is given the health check beside it, on which its crash watch may end early.
  const health = first(run.calls, 'checkHealth').input as { url: string; expectedVersion?: string };
  expect(health.url).toMatch(/^http/);
  expect(start.input).toMatchObject({
    endWatchWhenHealthy: { url: health.url, expectedVersion: health.expectedVersion },
  });
});

test('a start that fails stops the check still running beside it: the failure is the start, the check counts as not run', async () => {
  const run = await runRollback(rollbackDeciding(false), {
    fakes: {
      fail: { startService: { times: 1, type: 'ServiceStartFailed', nonRetryable: true } },
      // The health check waits for a service that never comes: only a cancellation ends it.
      block: { checkHealth: {} },
    },
  });
  expect(run.failure).toBe('RollbackFailed');
  expect(run.record.failure).toMatchObject({ stepId: 'start', type: 'ServiceStartFailed' });
  expect(run.record.steps.find((s) => s.id === 'validate-health')).toMatchObject({
    state: 'pending',
    attempts: 0,
  });
  expect(first(run.calls, 'checkHealth').outcome).toBe('cancelled');
  expect(run.historyEvents).toContain('ACTIVITY_TASK_CANCEL_REQUESTED');
  // Nothing after the health check was called, and the undos began once it had stopped.
  expect(run.calls.some((c) => c.activity === 'checkMcp')).toBe(false);
  const undo = run.calls.find(
    (c) => c.activity === 'stopService' && c.startSeq > first(run.calls, 'startService').startSeq,
  )!;
  expect(undo.startSeq).toBeGreaterThan(first(run.calls, 'checkHealth').endSeq!);
  expect(run.record.status).toBe('compensated');
});

test('a check that fails beside the start is decided on once the start has ended; a retry re-runs the check, not the start', async () => {
  const started = gate();
  const run = await runRollback(rollbackDeciding(true), {
    fakes: {
      fail: { checkHealth: { times: 1, type: 'HealthCheckFailed', nonRetryable: true } },
      block: { startService: { until: started.until } },
    },
    drive: async (d) => {
      await d.called('checkHealth');
      // The check has failed; the rollback does not ask for a decision while the start runs.
      const running = await d.progressWhen('the start still running', (r) =>
        r.steps.some((s) => s.id === 'validate-health' && s.state === 'failed'),
      );
      expect(running.status).toBe('running');
      expect(running.awaitingDecision).toBeUndefined();
      started.release();
      const asked = await d.progressWhen('awaiting a decision', (r) => r.status === 'awaiting-decision');
      expect(asked.awaitingDecision).toMatchObject({ stepId: 'validate-health' });
      expect(asked.steps.find((s) => s.id === 'start')).toMatchObject({ state: 'succeeded' });
      await d.handle.executeUpdate(decideUpdate, {
        args: [{ by: 'carol', decision: 'retry', stepId: 'validate-health' }],
      });
    },
  });
  expect(run.record.status).toBe('succeeded');
  expect(run.calls.filter((c) => c.activity === 'startService')).toHaveLength(1);
  // The immediate check failed, then its retry passed (the later phases' checks come after).
  expect(
    run.calls
      .filter((c) => c.activity === 'checkHealth')
      .slice(0, 2)
      .map((c) => c.outcome),
  ).toEqual(['failed', 'succeeded']);
  expect(run.record.decisions).toMatchObject([{ stepId: 'validate-health', decision: 'retry', by: 'carol' }]);
});

test('the incident log is written beside the backup; the stop begins once both are done', async () => {
  const backedUp = gate();
  const run = await runRollback(rollbackDeciding(false), {
    // The incident is held until the backup has been called: one after another, it never would be.
    fakes: { block: { recordIncident: { until: backedUp.until } } },
    drive: async (d) => {
      await d.called('backupFiles');
      backedUp.release();
    },
  });
  expect(run.record.status).toBe('succeeded');
  const incident = first(run.calls, 'recordIncident');
  const backup = first(run.calls, 'backupFiles');
  expect(backup.startSeq).toBeLessThan(incident.endSeq!);
  expect(first(run.calls, 'stopService').startSeq).toBeGreaterThan(
    Math.max(incident.endSeq!, backup.endSeq!),
  );
  const history = Buffer.from(temporal.api.history.v1.History.encode(run.history).finish());
  expect(history.includes(Buffer.from('incident-beside-backup'))).toBe(true);
});

test('an incident log that fails beside a backup that holds is the failure decided on; a retry writes both again', async () => {
  const run = await runRollback(rollbackDeciding(true), {
    fakes: { fail: { recordIncident: { times: 1, type: 'Error', nonRetryable: true } } },
    drive: async (d) => {
      const asked = await d.progressWhen('awaiting a decision', (r) => r.status === 'awaiting-decision');
      expect(asked.awaitingDecision).toMatchObject({ stepId: 'incident' });
      expect(asked.steps.find((s) => s.id === 'backup')).toMatchObject({ state: 'succeeded' });
      expect(asked.steps.find((s) => s.id === 'stop')).toMatchObject({ state: 'pending' });
      await d.handle.executeUpdate(decideUpdate, {
        args: [{ by: 'carol', decision: 'retry', stepId: 'incident' }],
      });
    },
  });
  expect(run.record.status).toBe('succeeded');
  expect(run.calls.filter((c) => c.activity === 'recordIncident').map((c) => c.outcome)).toEqual([
    'failed',
    'succeeded',
  ]);
  expect(run.calls.filter((c) => c.activity === 'backupFiles')).toHaveLength(2);
});
