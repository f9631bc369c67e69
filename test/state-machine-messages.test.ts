import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { ApprovalEntry, AuditEntry, Decision, RollbackEventType } from '../src/model';
import {
  approveSignal,
  approveUpdate,
  decideSignal,
  decideUpdate,
  rejectSignal,
  rejectUpdate,
  type ApprovalInput,
  type DecisionInput,
} from '../src/workflows/messages';
import { eventually } from './rig/eventually';
import { gate } from './rig/fake-activities';
import {
  activitiesCalled,
  lightdashRollback,
  lightdashUndos,
  quietRuntime,
  runRollback,
  stepActivities,
  undosOf,
  type Driver,
  type RollbackHandle,
  type RollbackRun,
} from './rig/time-skipping';

/**
 * What people send a rollback, on the time-skipping server with fake activities (so the 1800 s
 * approval deadline passes at once): approvals with quorum 1 and 2, by Update and by Signal,
 * rejections and the deadline with either default; every message the gates refuse; and
 * cancellation at each stage. The plan is lightdash-mcp's emergency rollback (approvers carol,
 * dave, erin; see lightdashRollback).
 */

quietRuntime();

type Via = 'update' | 'signal';
interface Act {
  by: string;
  action: 'approve' | 'reject';
  via: Via;
  comment?: string;
}
const approve = (by: string, via: Via = 'update'): Act => ({ by, action: 'approve', via });
const reject = (by: string, via: Via = 'update', comment?: string): Act => ({
  by,
  action: 'reject',
  via,
  comment,
});

interface ApprovalCase {
  name: string;
  quorum: 1 | 2;
  onTimeout?: 'approve' | 'reject';
  /** What people do; when that does not settle the gate, its deadline passes. */
  acts: Act[];
  status: 'succeeded' | 'rejected';
  approvals: [by: string, decision: ApprovalEntry['decision'], via: ApprovalEntry['via']][];
  notices: RollbackEventType[];
}

const ASKED: RollbackEventType[] = ['started', 'awaiting-approval'];
const ESCALATED: RollbackEventType[] = [...ASKED, 'approval-escalated'];

const CASES: ApprovalCase[] = [
  {
    name: 'quorum 1: approved by Update',
    quorum: 1,
    acts: [approve('carol')],
    status: 'succeeded',
    approvals: [['carol', 'approved', 'update']],
    notices: [...ASKED, 'approved', 'succeeded'],
  },
  {
    name: 'quorum 1: approved by Signal',
    quorum: 1,
    acts: [approve('carol', 'signal')],
    status: 'succeeded',
    approvals: [['carol', 'approved', 'signal']],
    notices: [...ASKED, 'approved', 'succeeded'],
  },
  {
    name: 'quorum 2: two approvers by Update',
    quorum: 2,
    acts: [approve('carol'), approve('dave')],
    status: 'succeeded',
    approvals: [
      ['carol', 'approved', 'update'],
      ['dave', 'approved', 'update'],
    ],
    notices: [...ASKED, 'approved', 'succeeded'],
  },
  {
    name: 'quorum 2: one by Update, one by Signal',
    quorum: 2,
    acts: [approve('carol'), approve('erin', 'signal')],
    status: 'succeeded',
    approvals: [
      ['carol', 'approved', 'update'],
      ['erin', 'approved', 'signal'],
    ],
    notices: [...ASKED, 'approved', 'succeeded'],
  },
  {
    name: 'quorum 1: nobody answers, the deadline approves',
    quorum: 1,
    onTimeout: 'approve',
    acts: [],
    status: 'succeeded',
    approvals: [['timeout', 'approved', 'timeout']],
    notices: [...ESCALATED, 'approved', 'succeeded'],
  },
  {
    name: 'quorum 1: nobody answers, the deadline rejects',
    quorum: 1,
    onTimeout: 'reject',
    acts: [],
    status: 'rejected',
    approvals: [['timeout', 'rejected', 'timeout']],
    notices: [...ESCALATED, 'rejected'],
  },
  {
    name: 'quorum 2: nobody answers, the deadline rejects (the default)',
    quorum: 2,
    acts: [],
    status: 'rejected',
    approvals: [['timeout', 'rejected', 'timeout']],
    notices: [...ESCALATED, 'rejected'],
  },
  {
    name: 'quorum 2: one approval short, the deadline approves',
    quorum: 2,
    onTimeout: 'approve',
    acts: [approve('carol')],
    status: 'succeeded',
    approvals: [
      ['carol', 'approved', 'update'],
      ['timeout', 'approved', 'timeout'],
    ],
    notices: [...ESCALATED, 'approved', 'succeeded'],
  },
  {
    name: 'quorum 2: one approval short, the deadline rejects',
    quorum: 2,
    onTimeout: 'reject',
    acts: [approve('carol', 'signal')],
    status: 'rejected',
    approvals: [
      ['carol', 'approved', 'signal'],
      ['timeout', 'rejected', 'timeout'],
    ],
    notices: [...ESCALATED, 'rejected'],
  },
  {
    name: 'quorum 1: an approver rejects by Update',
    quorum: 1,
    acts: [reject('dave', 'update', 'wrong version')],
    status: 'rejected',
    approvals: [['dave', 'rejected', 'update']],
    notices: [...ASKED, 'rejected'],
  },
  {
    name: 'quorum 2: one approves, another rejects by Signal',
    quorum: 2,
    acts: [approve('carol'), reject('erin', 'signal', 'not during the sale')],
    status: 'rejected',
    approvals: [
      ['carol', 'approved', 'update'],
      ['erin', 'rejected', 'signal'],
    ],
    notices: [...ASKED, 'rejected'],
  },
  {
    name: 'quorum 1: the requester withdraws (rejects) by Signal',
    quorum: 1,
    acts: [reject('alice', 'signal', 'fixed forward instead')],
    status: 'rejected',
    approvals: [['alice', 'rejected', 'signal']],
    notices: [...ASKED, 'rejected'],
  },
];

async function act(d: Driver, a: Act, quorum: number, index: number): Promise<void> {
  const input = { by: a.by, comment: a.comment };
  if (a.via === 'update') {
    const result = await d.handle.executeUpdate(a.action === 'approve' ? approveUpdate : rejectUpdate, {
      args: [input],
    });
    expect(result).toMatchObject({ accepted: true, needed: quorum });
  } else {
    await d.handle.signal(a.action === 'approve' ? approveSignal : rejectSignal, input);
  }
  // Signals are handled later: the next act must find this one recorded.
  await d.progressWhen(`${a.action} by ${a.by} recorded`, (r) => r.approvals.length > index);
}

/** The approval gate: who approves, how many, by which message, and what the deadline does. */
describe('the approval gate', () => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const input = lightdashRollback({ kind: 'emergency' }, (t) => {
      t.approval.required = { emergency: true };
      t.approval.quorum = c.quorum;
      if (c.onTimeout) t.approval.onTimeout = c.onTimeout;
    });
    let beforeApproval: string[] = [];
    const run = await runRollback(input, {
      drive: async (d) => {
        await d.noticeDelivered('awaiting-approval');
        beforeApproval = activitiesCalled(d.calls);
        for (const [i, a] of c.acts.entries()) await act(d, a, c.quorum, i);
      },
    });

    expect(run.record.status).toBe(c.status);
    expect(run.failure).toBe(c.status === 'rejected' ? 'RollbackRejected' : undefined);
    expect(run.record.approvals.map((a) => [a.by, a.decision, a.via])).toEqual(c.approvals);
    expect(run.notices).toEqual(c.notices);
    // Only read-only checks may run before the gate opens.
    const readOnly = input.plan.steps.filter((s) => s.role === 'inspect' || s.role === 'check');
    expect(beforeApproval.every((a) => readOnly.some((s) => s.activity === a))).toBe(true);
    expect(activitiesCalled(run.calls)).toEqual(
      c.status === 'succeeded'
        ? [...stepActivities(input), 'appendRollbackLog']
        : [...beforeApproval, 'appendRollbackLog'],
    );
    expect(run.record.undos).toEqual([]);

    const audited = run.record.audit.map((e) => [e.by, e.action, e.outcome]);
    const expected: [string, AuditEntry['action'], AuditEntry['outcome']][] = [
      ['alice', 'requested', 'accepted'],
      ...c.acts.map((a): [string, AuditEntry['action'], 'accepted'] => [a.by, a.action, 'accepted']),
    ];
    if (c.approvals.some(([by]) => by === 'timeout')) {
      expected.push(['timeout', 'escalated', 'accepted'], ['timeout', 'timeout', 'accepted']);
    }
    expect(audited).toEqual(expected);

    // The approvers see what will run; the last notice says who settled it.
    const sent = (type: RollbackEventType) => run.noticeEvents.find((e) => e.type === type);
    expect(sent('awaiting-approval')).toMatchObject({
      plan: input.plan.steps.map((s) => s.title),
      approvers: ['carol', 'dave', 'erin'],
    });
    if (c.notices.includes('approval-escalated')) {
      expect(sent('approval-escalated')).toMatchObject({ status: 'awaiting-approval' });
    }
    if (c.status === 'rejected') {
      expect(run.noticeEvents.at(-1)).toMatchObject({ type: 'rejected', by: c.approvals.at(-1)![0] });
    }
  });
});

/** carol asks for this one, so her own approval is a self-approval; dave and erin may approve. */
function approvalByCarolNeeded() {
  return lightdashRollback({ kind: 'emergency', requestedBy: 'carol' }, (t) => {
    t.approval.required = { emergency: true };
  });
}

type Refusal =
  | { name: string; message: 'approve' | 'reject'; input: ApprovalInput; problem: RegExp }
  | { name: string; message: 'decide'; input: DecisionInput; problem: RegExp };

/** Refused while the rollback waits for approval; dave has approved once already. */
const WHILE_AWAITING_APPROVAL: Refusal[] = [
  {
    name: 'self-approval',
    message: 'approve',
    input: { by: 'carol' },
    problem: /carol requested this rollback and may not approve it/,
  },
  {
    name: 'an approver the target does not list',
    message: 'approve',
    input: { by: 'mallory' },
    problem: /mallory is not an approver of lightdash-mcp/,
  },
  {
    name: 'a rejection by someone the target does not list',
    message: 'reject',
    input: { by: 'mallory' },
    problem: /mallory is not an approver/,
  },
  {
    name: 'the same approver twice',
    message: 'approve',
    input: { by: 'dave' },
    problem: /dave has already approved; a quorum needs distinct approvers/,
  },
  { name: 'no name', message: 'approve', input: { by: '  ' }, problem: /say who you are/ },
  {
    name: 'a decision when no step failed',
    message: 'decide',
    input: { by: 'dave', decision: 'skip' },
    problem: /not waiting for a decision \(it is awaiting-approval\)/,
  },
];

/** The Update fails with the validator's reason; `what` names the attempt when it was accepted. */
async function expectRefused(update: Promise<unknown>, problem: RegExp, what = 'the Update'): Promise<void> {
  const err = await update.then(
    () => new Error(`${what} was accepted`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  expect((err as WorkflowUpdateFailedError).cause?.message).toMatch(problem);
}

function sendUpdate(handle: RollbackHandle, r: Refusal): Promise<unknown> {
  if (r.message === 'decide') return handle.executeUpdate(decideUpdate, { args: [r.input] });
  return handle.executeUpdate(r.message === 'approve' ? approveUpdate : rejectUpdate, { args: [r.input] });
}

function sendSignal(handle: RollbackHandle, r: Refusal): Promise<void> {
  if (r.message === 'decide') return handle.signal(decideSignal, r.input);
  return handle.signal(r.message === 'approve' ? approveSignal : rejectSignal, r.input);
}

/** Waits until the approval gate is reached and dave's approval is in. */
async function daveApproved(d: Driver): Promise<void> {
  await d.noticeDelivered('awaiting-approval');
  await d.handle.executeUpdate(approveUpdate, { args: [{ by: 'dave' }] });
}

/**
 * Refused: an Update by its validator, before anything enters the history (the sender gets the
 * reason, the record is untouched); its Signal twin cannot be refused to its sender, so the refusal
 * is kept in the audit trail. Refusals have no failure type, only a reason saying what was wrong:
 * that reason is what these tests match.
 */
describe('refused', () => {
  test('Updates while waiting for approval: refused at once, nothing recorded, not in the history', async () => {
    const run = await runRollback(approvalByCarolNeeded(), {
      drive: async (d) => {
        await daveApproved(d);
        for (const r of WHILE_AWAITING_APPROVAL) {
          await expectRefused(sendUpdate(d.handle, r), r.problem, r.name);
        }
        const record = await d.progressWhen(
          'the gate still waiting',
          (p) => p.status === 'awaiting-approval',
        );
        expect(record.approvals.map((a) => a.by)).toEqual(['dave']);
        await d.handle.executeUpdate(rejectUpdate, { args: [{ by: 'erin' }] });
      },
    });
    expect(run.failure).toBe('RollbackRejected');
    expect(run.record.approvals.map((a) => [a.by, a.decision])).toEqual([
      ['dave', 'approved'],
      ['erin', 'rejected'],
    ]);
    expect(run.record.audit.filter((e) => e.outcome === 'refused')).toEqual([]);
    // Only the two accepted Updates entered the history.
    expect(run.historyEvents.filter((e) => e === 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED')).toHaveLength(2);
  });

  test('the same as Signals: ignored, and each refusal kept in the audit trail', async () => {
    const run = await runRollback(approvalByCarolNeeded(), {
      drive: async (d) => {
        await daveApproved(d);
        for (const r of WHILE_AWAITING_APPROVAL) await sendSignal(d.handle, r);
        await d.progressWhen(
          'every refusal audited',
          (p) => p.audit.filter((e) => e.outcome === 'refused').length === WHILE_AWAITING_APPROVAL.length,
        );
        await d.handle.executeUpdate(rejectUpdate, { args: [{ by: 'erin' }] });
      },
    });
    expect(run.failure).toBe('RollbackRejected');
    expect(run.record.approvals.map((a) => a.by)).toEqual(['dave', 'erin']);
    const refused = run.record.audit.filter((e) => e.outcome === 'refused');
    expect(refused.map((e) => [e.by, e.action])).toEqual(
      WHILE_AWAITING_APPROVAL.map((r) => [r.input.by.trim() || '(unknown)', r.message]),
    );
    refused.forEach((e, i) => expect(e.detail).toMatch(WHILE_AWAITING_APPROVAL[i]!.problem));
  });

  test('decisions for the wrong step, by the wrong person, of the wrong kind, or once decided', async () => {
    const input = lightdashRollback({ kind: 'emergency' }, (t) => {
      t.onFailure.wait = { emergency: true };
    });
    const undoing = gate();
    const run = await runRollback(input, {
      fakes: {
        fail: { checkoutRef: { times: 1, type: 'CheckoutFailed', nonRetryable: true } },
        // The first undo, the checkout's own, is held until the last refusal was tried.
        block: { checkoutRef: { call: 2, until: undoing.until } },
      },
      drive: async (d) => {
        await d.noticeDelivered('step-failed');
        const decide = (input: DecisionInput) => d.handle.executeUpdate(decideUpdate, { args: [input] });
        await expectRefused(
          decide({ by: 'carol', decision: 'skip', stepId: 'install' }),
          /the decision is for step install, but the rollback waits on checkout/,
        );
        await expectRefused(
          decide({ by: 'mallory', decision: 'skip', stepId: 'checkout' }),
          /mallory may not decide on lightdash-mcp rollbacks/,
        );
        await expectRefused(
          decide({ by: 'carol', decision: 'rollforward' as Decision }),
          /unknown decision "rollforward"/,
        );
        await expectRefused(
          d.handle.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] }),
          /not awaiting approval \(it is awaiting-decision\)/,
        );
        await decide({ by: 'carol', decision: 'compensate', stepId: 'checkout' });
        await d.called('checkoutRef', 2);
        await expectRefused(
          decide({ by: 'dave', decision: 'skip', stepId: 'checkout' }),
          /not waiting for a decision \(it is compensating\)/,
        );
        undoing.release();
      },
    });
    expect(run.failure).toBe('RollbackFailed');
    expect(run.record.decisions.map((e) => [e.stepId, e.decision, e.by])).toEqual([
      ['checkout', 'compensate', 'carol'],
    ]);
  });

  test('an approval of a rollback that needs none', async () => {
    const running = gate();
    const run = await runRollback(lightdashRollback({ kind: 'emergency' }), {
      fakes: { block: { recordIncident: { until: running.until } } },
      drive: async (d) => {
        await d.called('recordIncident');
        await expectRefused(
          d.handle.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] }),
          /not awaiting approval \(it is running\)/,
        );
        running.release();
      },
    });
    expect(run.record.status).toBe('succeeded');
    expect(run.record.approvals).toEqual([]);
  });

  test('an approval after a rejection', async () => {
    const logging = gate();
    const run = await runRollback(approvalByCarolNeeded(), {
      fakes: { block: { appendRollbackLog: { until: logging.until } } },
      drive: async (d) => {
        await d.noticeDelivered('awaiting-approval');
        await d.handle.executeUpdate(rejectUpdate, { args: [{ by: 'dave', comment: 'not now' }] });
        await expectRefused(
          d.handle.executeUpdate(approveUpdate, { args: [{ by: 'erin' }] }),
          /not awaiting approval \(it is rejected\)/,
        );
        logging.release();
      },
    });
    expect(run.failure).toBe('RollbackRejected');
    expect(run.record.approvals.map((a) => [a.by, a.decision])).toEqual([['dave', 'rejected']]);
  });

  test.each([
    ['approve', 'recordIncident', 'succeeded'],
    ['reject', 'appendRollbackLog', 'rejected'],
  ] as const)(
    'an approval after the deadline (then %s), while the rollback goes on',
    async (onTimeout, heldActivity, status) => {
      const input = lightdashRollback({ kind: 'emergency' }, (t) => {
        t.approval.required = { emergency: true };
        t.approval.quorum = 1;
        t.approval.onTimeout = onTimeout;
      });
      const held = gate();
      const run = await runRollback(input, {
        fakes: { block: { [heldActivity]: { until: held.until } } },
        drive: async (d) => {
          await d.noticeDelivered('awaiting-approval');
          // Skips past the 1800 s deadline; ends only once the held step is released.
          const slept = d.env.sleep(1801 * 1000);
          // The escalation is sent once the deadline has passed.
          await d.noticeDelivered('approval-escalated');
          await expectRefused(
            d.handle.executeUpdate(approveUpdate, { args: [{ by: 'dave' }] }),
            /past its approval deadline/,
          );
          held.release();
          await slept;
        },
      });
      expect(run.record.status).toBe(status);
      expect(run.record.approvals.map((a) => [a.by, a.decision])).toEqual([
        ['timeout', onTimeout === 'approve' ? 'approved' : 'rejected'],
      ]);
      // Skipped time stood still while the step ran: it did not time out and run again.
      expect(run.calls.filter((c) => c.activity === heldActivity).map((c) => c.outcome)).toEqual([
        'succeeded',
      ]);
    },
  );
});

/** Cancelled, audited; once announced (past the read-only checks), the report is still written. */
function expectCancelled(run: RollbackRun, announced = true): void {
  expect(run.failure).toBe('RollbackCancelled');
  expect(run.record.status).toBe('cancelled');
  expect(run.record.audit.map((e) => [e.by, e.action, e.outcome])).toEqual([
    ['alice', 'requested', 'accepted'],
    ['(operator)', 'cancel', 'accepted'],
  ]);
  if (!announced) return;
  expect(activitiesCalled(run.calls).at(-1)).toBe('appendRollbackLog');
  expect(run.record.steps.find((s) => s.id === 'rollback-log')).toMatchObject({ state: 'succeeded' });
}

/**
 * Cancelling (`rollback cancel`, the Web UI): before any step, while waiting for approval, while a
 * step runs, while waiting for a decision, while undoing. Whatever ran is undone, newest first,
 * after the running activity has stopped; undos are never cancelled; the log is still written.
 */
describe('cancelling a rollback', () => {
  test('before any step ran: nothing to undo, and nothing was written or announced, so no report or notice either', async () => {
    const input = lightdashRollback({ kind: 'emergency' });
    const run = await runRollback(input, { beforeWorker: (handle) => handle.cancel() });
    expectCancelled(run, false);
    expect(activitiesCalled(run.calls)).toEqual([]);
    expect(run.record.steps.filter((s) => s.state !== 'pending').map((s) => s.id)).toEqual([]);
    expect(run.record.undos).toEqual([]);
    expect(run.notices).toEqual([]);
  });

  test('while it waits for approval: nothing to undo, nobody approved', async () => {
    const input = lightdashRollback({ kind: 'emergency' }, (t) => {
      t.approval.required = { emergency: true };
    });
    let beforeApproval: string[] = [];
    const run = await runRollback(input, {
      drive: async (d) => {
        await d.noticeDelivered('awaiting-approval');
        beforeApproval = activitiesCalled(d.calls);
        await d.handle.cancel();
      },
    });
    expectCancelled(run);
    expect(activitiesCalled(run.calls)).toEqual([...beforeApproval, 'appendRollbackLog']);
    expect(run.record.approvals).toEqual([]);
    expect(run.record.undos).toEqual([]);
    expect(run.notices).toEqual(['started', 'awaiting-approval', 'cancelled']);
  });

  test('while a step runs: the step hears it and stops, then what ran is undone', async () => {
    const input = lightdashRollback({ kind: 'emergency' });
    const run = await runRollback(input, {
      fakes: { block: { runInstall: {} } },
      drive: async (d) => {
        await d.called('runInstall');
        await d.handle.cancel();
      },
    });
    expectCancelled(run);
    expect(undosOf(run)).toEqual(lightdashUndos('checkout'));
    const install = run.calls.find((c) => c.activity === 'runInstall')!;
    expect(install.outcome).toBe('cancelled');
    // The undos wait for the cancelled step to stop: no undo races the step it undoes.
    const firstUndo = run.calls.find((c) => c.startSeq > install.startSeq && c.activity === 'checkoutRef')!;
    expect(install.endSeq).toBeLessThan(firstUndo.startSeq);
    expect(run.historyEvents).toContain('ACTIVITY_TASK_CANCEL_REQUESTED');
    expect(activitiesCalled(run.calls)).toEqual([
      ...stepActivities(input, { through: 'install' }),
      ...lightdashUndos('checkout').map(([, a]) => a),
      'appendRollbackLog',
    ]);
    const states = Object.fromEntries(run.record.steps.map((s) => [s.id, s.state]));
    expect(states).toMatchObject({
      checkout: 'succeeded',
      install: 'failed',
      build: 'pending',
      start: 'pending',
    });
    expect(run.notices).toEqual(['started', 'cancelled']);
  });

  test('while it waits for a decision: what ran is undone, no decision recorded', async () => {
    const input = lightdashRollback({ kind: 'emergency' }, (t) => {
      t.onFailure.wait = { emergency: true };
    });
    const run = await runRollback(input, {
      fakes: { fail: { checkoutRef: { times: 1, type: 'CheckoutFailed', nonRetryable: true } } },
      drive: async (d) => {
        await d.noticeDelivered('step-failed');
        await d.handle.cancel();
      },
    });
    expectCancelled(run);
    expect(undosOf(run)).toEqual(lightdashUndos('checkout'));
    expect(run.record.decisions).toEqual([]);
    expect(run.record.awaitingDecision).toBeUndefined();
    expect(run.record.steps.find((s) => s.id === 'checkout')).toMatchObject({
      state: 'failed',
      errorType: 'CheckoutFailed',
    });
    expect(run.notices).toEqual(['started', 'step-failed', 'cancelled']);
  });

  test('while it undoes: the undos are not cancelled and all of them run', async () => {
    const input = lightdashRollback({ kind: 'emergency' });
    const held = gate();
    const run = await runRollback(input, {
      fakes: {
        fail: { restoreConfigFiles: { times: 1, type: 'BackupMissing', nonRetryable: true } },
        // The first undo (restore-config's own) is the second call of the restore.
        block: { restoreConfigFiles: { call: 2, until: held.until } },
      },
      drive: async (d) => {
        await d.called('restoreConfigFiles', 2);
        await d.handle.cancel();
        // Let the workflow see the cancellation before the held undo may finish.
        await eventually(
          'the cancellation handled',
          async () => {
            const events = (await d.handle.fetchHistory()).events ?? [];
            const asked = events.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
            return asked >= 0 && events.slice(asked).some((e) => e.workflowTaskCompletedEventAttributes);
          },
          15_000,
          50,
        );
        held.release();
      },
    });
    // The rollback ends as the failure it was: compensated, every undo run to its end.
    expect(run.failure).toBe('RollbackFailed');
    expect(run.record.status).toBe('compensated');
    expect(run.record.failure).toMatchObject({ stepId: 'restore-config', type: 'BackupMissing' });
    expect(undosOf(run)).toEqual(lightdashUndos('restore-config'));
    expect(run.calls.filter((c) => c.outcome === 'cancelled')).toEqual([]);
    expect(run.historyEvents).not.toContain('ACTIVITY_TASK_CANCEL_REQUESTED');
    expect(run.notices).toEqual(['started', 'compensated']);
    // The request is not lost: the audit trail says it came, and why it changed nothing.
    expect(run.record.audit.at(-1)).toMatchObject({
      by: '(operator)',
      action: 'cancel',
      outcome: 'refused',
      detail: expect.stringContaining('while undoing'),
    });
  });
});
