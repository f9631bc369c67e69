import type { Decision, DecisionEntry, FailureType, RollbackEventType, RollbackStatus } from '../src/model';
import { decideSignal, decideUpdate } from '../src/workflows/messages';
import type { FakeFailure } from './rig/fake-activities';
import {
  activitiesCalled,
  fixturePlan,
  lightdashRollback,
  lightdashUndos,
  quietRuntime,
  runRollback,
  stepActivities,
  undosOf,
  type Driver,
} from './rig/time-skipping';

/**
 * What becomes of a rollback when a step fails for good and when a later validation phase fails:
 * on the time-skipping server with fake activities, so the decision timeouts and the phases'
 * timers pass at once. The plan is lightdash-mcp's emergency rollback (see
 * lightdashRollback); failures carry the types the real activities raise.
 */

quietRuntime();

const CHECKOUT_FAILS_ONCE: FakeFailure = { times: 1, type: 'CheckoutFailed', nonRetryable: true };

function rollbackWithPolicy(wait: boolean, fallback: Decision) {
  return lightdashRollback({ kind: 'emergency' }, (t) => {
    t.onFailure = { wait: { emergency: wait }, timeoutSeconds: 600, default: { emergency: fallback } };
  });
}

type By = 'update' | 'signal' | 'timeout' | 'policy';

/** Who decides, and how the decision is recorded. */
const DECIDERS: Record<By, { by?: string; via?: DecisionEntry['via'] }> = {
  update: { by: 'carol', via: 'update' },
  // The requester may decide too.
  signal: { by: 'alice', via: 'signal' },
  timeout: { by: 'timeout', via: 'timeout' },
  // Nobody is asked; the decision is still recorded.
  policy: { by: 'policy', via: 'policy' },
};

const ENDS: Record<Decision, { status: RollbackStatus; failure?: FailureType; final: RollbackEventType }> = {
  retry: { status: 'succeeded', final: 'succeeded' },
  skip: { status: 'succeeded', final: 'succeeded' },
  compensate: { status: 'compensated', failure: 'RollbackFailed', final: 'compensated' },
  abort: { status: 'aborted', failure: 'RollbackAborted', final: 'aborted' },
};

/** Every decision by every decider; a default (timeout, policy) cannot be retry: the planner refuses it. */
const CASES = (['retry', 'skip', 'compensate', 'abort'] as const).flatMap((decision) =>
  (['update', 'signal', 'timeout', 'policy'] as const)
    .filter((by) => !((by === 'policy' || by === 'timeout') && decision === 'retry'))
    .map(
      (by) =>
        [
          `${decision}, ${by === 'policy' ? 'by a policy that does not wait' : `by ${by}`}`,
          decision,
          by,
        ] as const,
    ),
);

async function decide(d: Driver, by: By, decision: Decision, nth = 1): Promise<void> {
  await d.noticeDelivered('step-failed', nth);
  const waiting = await d.progressWhen('awaiting a decision', (r) => r.status === 'awaiting-decision');
  expect(waiting.awaitingDecision).toMatchObject({ stepId: 'checkout', timeoutSeconds: 600 });
  const input = { by: DECIDERS[by].by!, decision, stepId: 'checkout' };
  if (by === 'update') {
    expect(await d.handle.executeUpdate(decideUpdate, { args: [input] })).toMatchObject({ accepted: true });
  } else {
    await d.handle.signal(decideSignal, input);
  }
}

/**
 * A step that fails for good: each decision (retry, skip, compensate, abort) given by an operator
 * as an Update or a Signal, applied as the default after the decision timeout (600 s), or applied
 * at once by a policy that does not wait. The step is the checkout, refused by git (CheckoutFailed).
 */
describe('a step that fails for good', () => {
  test('retry cannot be the default: it would retry a failing step for ever with nobody watching', () => {
    expect(() => rollbackWithPolicy(true, 'retry')).toThrow('onFailure.default.emergency is retry');
    expect(() => rollbackWithPolicy(false, 'retry')).toThrow('onFailure.default.emergency is retry');
  });

  test.each(CASES)('%s', async (_, decision, by) => {
    const input = rollbackWithPolicy(
      by !== 'policy',
      by === 'timeout' || by === 'policy' ? decision : 'abort',
    );
    const run = await runRollback(input, {
      fakes: { fail: { checkoutRef: CHECKOUT_FAILS_ONCE } },
      drive: by === 'update' || by === 'signal' ? (d) => decide(d, by, decision) : undefined,
    });

    const end = ENDS[decision];
    expect(run.record.status).toBe(end.status);
    expect(run.failure).toBe(end.failure);
    expect(run.notices).toEqual(['started', ...(by === 'policy' ? [] : ['step-failed']), end.final]);
    const { by: decider, via } = DECIDERS[by];
    expect(run.record.decisions).toEqual(
      via ? [expect.objectContaining({ stepId: 'checkout', decision, by: decider, via })] : [],
    );
    expect(run.record.awaitingDecision).toBeUndefined();

    const checkout = run.record.steps.find((s) => s.id === 'checkout')!;
    const throughCheckout = stepActivities(input, { through: 'checkout' });
    const afterCheckout = stepActivities(input, { after: 'checkout' });
    const called = activitiesCalled(run.calls);
    if (decision === 'retry') {
      expect(checkout).toMatchObject({ state: 'succeeded' });
      expect(called).toEqual([...throughCheckout, 'checkoutRef', ...afterCheckout, 'appendRollbackLog']);
    } else if (decision === 'skip') {
      expect(checkout).toMatchObject({
        state: 'skipped',
        summary: expect.stringContaining(`skipped by ${decider ?? 'policy'}`),
      });
      expect(called).toEqual([...throughCheckout, ...afterCheckout, 'appendRollbackLog']);
    } else {
      expect(checkout).toMatchObject({ state: 'failed', errorType: 'CheckoutFailed' });
      expect(run.record.failure).toMatchObject({ stepId: 'checkout', type: 'CheckoutFailed' });
      const undone = decision === 'compensate' ? lightdashUndos('checkout') : [];
      expect(undosOf(run)).toEqual(undone);
      expect(called).toEqual([...throughCheckout, ...undone.map(([, a]) => a), 'appendRollbackLog']);
    }
    if (decision === 'retry' || decision === 'skip') {
      expect(run.record.failure).toBeUndefined();
      expect(run.record.undos).toEqual([]);
    }

    const audited = run.record.audit.slice(1).map((e) => [e.by, e.action, e.outcome]);
    expect(audited).toEqual(
      by === 'policy' ? [] : [[decider, by === 'timeout' ? 'timeout' : 'decide', 'accepted']],
    );
  });

  test('a retried step that fails again waits for a new decision, and is undone once', async () => {
    const input = rollbackWithPolicy(true, 'abort');
    const run = await runRollback(input, {
      fakes: { fail: { checkoutRef: { ...CHECKOUT_FAILS_ONCE, times: 2 } } },
      drive: async (d) => {
        await decide(d, 'update', 'retry');
        await decide(d, 'update', 'compensate', 2);
      },
    });
    expect(run.failure).toBe('RollbackFailed');
    expect(run.record.status).toBe('compensated');
    expect(run.record.decisions.map((e) => e.decision)).toEqual(['retry', 'compensate']);
    expect(undosOf(run)).toEqual(lightdashUndos('checkout'));
    expect(run.notices).toEqual(['started', 'step-failed', 'step-failed', 'compensated']);
  });

  test('an undo that fails is reported, and the undos after it still run', async () => {
    const input = rollbackWithPolicy(false, 'compensate');
    const run = await runRollback(input, {
      fakes: {
        fail: {
          checkoutRef: CHECKOUT_FAILS_ONCE,
          restoreConfigFiles: { times: Infinity, type: 'BackupMissing', nonRetryable: true },
        },
      },
    });
    expect(run.failure).toBe('RollbackFailed');
    expect(run.record.status).toBe('failed');
    expect(undosOf(run)).toEqual(lightdashUndos('checkout', ['restoreConfigFiles']));
    expect(run.record.undos.find((u) => u.state === 'failed')?.error).toBeTruthy();
    expect(run.notices).toEqual(['started', 'failed']);
  });

  test('a transient failure is retried by Temporal, not decided on', async () => {
    const input = rollbackWithPolicy(true, 'abort');
    const run = await runRollback(input, {
      fakes: { fail: { checkoutRef: { times: 2, type: 'CheckoutFailed' } } },
    });
    expect(run.failure).toBeUndefined();
    expect(run.record.steps.find((s) => s.id === 'checkout')).toMatchObject({
      state: 'succeeded',
      attempts: 3,
    });
    expect(run.record.decisions).toEqual([]);
    expect(run.notices).toEqual(['started', 'succeeded']);
  });

  test('a failure that outlasts Temporal’s retries fails the step after its last attempt', async () => {
    const input = rollbackWithPolicy(false, 'compensate');
    const run = await runRollback(input, {
      fakes: { fail: { checkoutRef: { times: 3, type: 'CheckoutFailed' } } },
    });
    expect(run.failure).toBe('RollbackFailed');
    expect(run.record.steps.find((s) => s.id === 'checkout')).toMatchObject({
      state: 'failed',
      attempts: 3,
      errorType: 'CheckoutFailed',
    });
    expect(run.record.status).toBe('compensated');
  });
});

/** With the fixture's error-log window (900 s) and its phases: short-term after 300 s, long-term 3600 s later. */
function withPhases() {
  return lightdashRollback({ kind: 'emergency' }, (t, fixture) => {
    t.validate.errorLog = fixture.validate.errorLog;
    t.validate.phases = fixture.validate.phases;
  });
}

/** The error-log scan finds nothing at once, then error lines in the short-term window. */
const SHORT_TERM_ERRORS = {
  scanLogs: { after: 1, times: 1, type: 'ErrorLogMatches', nonRetryable: true },
} as const;

/**
 * The validation phases: the checks run again after durable timers. A check that fails in a later
 * phase waits for a decision even in an emergency rollback, whose policy otherwise compensates at
 * once: by then the service has run the rolled-back version for a while, and undoing it is a
 * person's call.
 */
describe('validation phases', () => {
  test('the whole fixture plan, every check, timer and channel, runs through on skipped time', async () => {
    const input = fixturePlan('git-pm2', 'lightdash-mcp', { kind: 'emergency' });
    // An emergency rollback of lightdash-mcp needs no approval: it runs at once.
    expect(input.plan.approval.required).toBe(false);
    const run = await runRollback(input);
    expect(run.failure).toBeUndefined();
    expect(run.record.approvals).toEqual([]);
    expect(run.record.steps.every((s) => s.state === 'succeeded')).toBe(true);
    expect(activitiesCalled(run.calls)).toEqual([...stepActivities(input), 'appendRollbackLog']);
    const timers = input.plan.steps.filter((s) => s.activity === 'wait');
    expect(run.historyEvents.filter((e) => e === 'TIMER_FIRED')).toHaveLength(timers.length);
    // Every notice reaches every channel: the config's global one and the target's two.
    expect(input.plan.notify).toHaveLength(3);
    expect(run.notices).toEqual(['started', 'succeeded']);
    expect(run.calls.filter((c) => c.activity === 'sendNotification')).toHaveLength(2 * 3);
  });

  test('a failure in the immediate phase of an emergency rollback is compensated at once', async () => {
    const run = await runRollback(withPhases(), {
      fakes: { fail: { scanLogs: { times: 1, type: 'ErrorLogMatches', nonRetryable: true } } },
    });
    expect(run.record.status).toBe('compensated');
    expect(run.record.failure).toMatchObject({ stepId: 'validate-error-log', type: 'ErrorLogMatches' });
    expect(run.record.decisions).toEqual([
      expect.objectContaining({
        stepId: 'validate-error-log',
        decision: 'compensate',
        by: 'policy',
        via: 'policy',
      }),
    ]);
    expect(undosOf(run)).toEqual(lightdashUndos('start'));
    expect(run.notices).toEqual(['started', 'compensated']);
  });

  test('a short-term failure waits for a person, who may let the rollback go on', async () => {
    const run = await runRollback(withPhases(), {
      fakes: { fail: SHORT_TERM_ERRORS },
      drive: async (d) => {
        // Past the timers before the short-term scan (900 s, 300 s, 900 s), well within the 600 s
        // the decision then waits.
        await d.env.sleep((900 + 300 + 900 + 60) * 1000);
        await d.noticeDelivered('step-failed');
        const waiting = await d.progressWhen('awaiting a decision', (r) => r.status === 'awaiting-decision');
        expect(waiting.awaitingDecision).toMatchObject({
          stepId: 'validate-error-log@short-term',
          defaultDecision: 'compensate',
        });
        await d.handle.executeUpdate(decideUpdate, {
          args: [{ by: 'carol', decision: 'skip', stepId: 'validate-error-log@short-term' }],
        });
      },
    });
    expect(run.failure).toBeUndefined();
    expect(run.record.status).toBe('succeeded');
    const states = Object.fromEntries(run.record.steps.map((s) => [s.id, s.state]));
    expect(states).toMatchObject({
      'validate-error-log': 'succeeded',
      'validate-error-log@short-term': 'skipped',
      'validate-error-log@long-term': 'succeeded',
    });
    expect(run.record.steps.find((s) => s.id === 'validate-error-log@short-term')).toMatchObject({
      errorType: 'ErrorLogMatches',
    });
    expect(run.notices).toEqual(['started', 'step-failed', 'succeeded']);
  });

  test('a short-term failure nobody decides on is compensated after the decision timeout', async () => {
    const run = await runRollback(withPhases(), { fakes: { fail: SHORT_TERM_ERRORS } });
    expect(run.failure).toBe('RollbackFailed');
    expect(run.record.status).toBe('compensated');
    expect(run.record.failure).toMatchObject({
      stepId: 'validate-error-log@short-term',
      type: 'ErrorLogMatches',
    });
    expect(run.record.decisions).toEqual([
      expect.objectContaining({
        stepId: 'validate-error-log@short-term',
        decision: 'compensate',
        by: 'timeout',
        via: 'timeout',
      }),
    ]);
    expect(undosOf(run)).toEqual(lightdashUndos('start'));
    expect(run.notices).toEqual(['started', 'step-failed', 'compensated']);
  });
});
