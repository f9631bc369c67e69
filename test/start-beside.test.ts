import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import type { StepProgress } from '../src/model';
import { BAD_VERSION, gitDescribe } from './rig/fixture-repo';
import { health, pm2Status } from './rig/sandbox';
import { startRollback } from './rig/rollback';
import { rollbackSuite } from './rig/suite';

/**
 * The start's watch (the service must stay up startGraceSeconds, or answer the health check beside
 * it with no restart) runs beside the validation that follows it instead of before it. Real fixtures under pm2, a real worker and Temporal server.
 */
const suite = rollbackSuite('beside');

const step = (steps: StepProgress[], id: string) => steps.find((s) => s.id === id)!;
const at = (iso?: string) => Date.parse(iso ?? '');

/** Rolls the sandbox back to v1.11.4, which must succeed: its steps, the start and the health check. */
async function rollsBack(sb: Parameters<typeof startRollback>[1]) {
  const started = await startRollback(suite.client, sb);
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  const steps = result.record!.steps;
  return { started, steps, start: step(steps, 'start'), checked: step(steps, 'validate-health') };
}

test('the start ends as soon as the service answered the health check beside it, not at the end of its grace, and the rollback goes on only after it', async () => {
  const sb = await suite.sandbox({
    name: 'beside-ok',
    // A grace far longer than the release takes to answer on any machine.
    configure: (t) => {
      t.service.startGraceSeconds = 20;
    },
  });
  const { started, steps, start, checked } = await rollsBack(sb);
  expect(start).toMatchObject({ state: 'succeeded' });
  expect(checked).toMatchObject({ state: 'succeeded' });
  expect(start.summary).toContain('answered its health check after');
  expect(start.durationMs).toBeLessThan(20_000);
  // The health check began while the start watched.
  expect(at(checked.startedAt)).toBeLessThan(at(start.finishedAt));
  // The first step after the validation waited for the start.
  const next = steps[steps.findIndex((s) => s.id === 'validate-latency') + 1]!;
  expect(next.role).not.toBe('validate');
  expect(at(next.startedAt)).toBeGreaterThanOrEqual(at(start.finishedAt));
  expect(await gitDescribe(sb.deployPath)).toBe('v1.11.4');

  // Recorded as a patch, so rollbacks started before this replay their steps one after another.
  const history = await suite.client.client.workflow
    .getHandle(started.workflowId, started.runId)
    .fetchHistory();
  const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
  expect(bytes.includes(Buffer.from('start-beside-checks'))).toBe(true);
});

test('with startGraceEndsWhenHealthy false the start watches its whole grace, and the checks run inside it', async () => {
  const sb = await suite.sandbox({
    name: 'beside-full',
    // A grace long enough that, on any machine, the checks beside it end before it does.
    configure: (t) => {
      t.service.startGraceSeconds = 4;
      t.service.startGraceEndsWhenHealthy = false;
    },
  });
  const { steps, start, checked } = await rollsBack(sb);
  expect(start.summary).toContain('up 4 s with no restart');
  expect(start.durationMs).toBeGreaterThanOrEqual(4000);
  expect(at(checked.startedAt)).toBeLessThan(at(start.finishedAt));
  expect(at(checked.finishedAt)).toBeLessThan(at(start.finishedAt));
  const next = steps[steps.findIndex((s) => s.id === 'validate-latency') + 1]!;
  expect(at(next.startedAt)).toBeGreaterThanOrEqual(at(start.finishedAt));
});

test('watching its whole grace, a release that passes its health check and falls over within it fails the start, not a later step, and is undone', async () => {
  const sb = await suite.sandbox({
    name: 'beside-dies',
    extraTags: [{ tag: 'v1.21.0', failureMode: 'dies-soon' }],
    configure: (t) => {
      // Healthy at once, dead 4 s after its start; the watch lasts 8 s whatever the health check says.
      t.service.startGraceSeconds = 8;
      t.service.startGraceEndsWhenHealthy = false;
      if (t.service.manager === 'pm2') t.service.env = { ...t.service.env, DIES_AFTER_MS: '4000' };
    },
  });
  const envBefore = readFileSync(join(sb.deployPath, '.env'), 'utf8');
  const started = await startRollback(suite.client, sb, { toVersion: 'v1.21.0' });
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.ok).toBe(false);
  const record = result.record!;
  expect(record.failure).toMatchObject({ stepId: 'start' });
  expect(step(record.steps, 'start').lastError).toContain('did not stay up');
  // The health check beside it saw the release healthy: without the watch this rollback would
  // have gone on with a release about to die.
  expect(step(record.steps, 'validate-health')).toMatchObject({ state: 'succeeded' });
  expect(step(record.steps, 'validate-health').summary).toContain('version 1.21.0');
  // Any check that was still running when the start failed was stopped and counts as not run.
  for (const s of record.steps.filter((x) => x.role === 'validate'))
    expect(['succeeded', 'pending']).toContain(s.state);
  expect(record.status).toBe('compensated');
  expect(await gitDescribe(sb.deployPath)).toBe(`v${BAD_VERSION}`);
  expect(pm2Status(sb.pm2Home, `lightdash-${sb.target}`)).toBe('online');
  expect((await health(sb.port)).body.version).toBe(BAD_VERSION);
  expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).toBe(envBefore);
});
