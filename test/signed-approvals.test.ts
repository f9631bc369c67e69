import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { stringify } from 'yaml';
import type { RollbackClient } from '../src/client';
import { signAction } from '../src/cli/signing';
import {
  parseAllowedSigners,
  signedMessage,
  verifySignature,
  type RollbackRequest,
  type SignedAction,
} from '../src/model';
import { getTarget, parseConfig } from '../src/targets/load';
import { planRollback } from '../src/targets/plan';
import { createWorker } from '../src/worker';
import { commandTarget } from './rig/configs';
import { eventually } from './rig/eventually';
import { createFakeActivities } from './rig/fake-activities';
import { runCli } from './rig/rollback';
import { connectClient, installTestRuntime, testTaskQueue } from './rig/temporal';
import { approveSignal, approveUpdate, decideUpdate } from '../src/workflows/messages';
import { lightdashRollback, quietRuntime, runRollback, type Driver } from './rig/time-skipping';

/**
 * Signed approvals and decisions (approval.requireSignature): real ed25519 keys made by ssh-keygen,
 * signatures made by the CLI's own signing code (ssh-keygen -Y sign), checked by the workflow's
 * Update validators on the time-skipping Temporal server (fake activities: what is under test is
 * the gate). carol and dave are allowed signers; mallory's key is not in the list.
 */

quietRuntime();

const dir = mkdtempSync(join(tmpdir(), 'rollback-sign-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const key = (name: string) => {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return { file, pub: readFileSync(`${file}.pub`, 'utf8').trim() };
};
const KEYS = { carol: key('carol'), dave: key('dave'), erin: key('erin'), mallory: key('mallory') };
const fingerprint = (name: keyof typeof KEYS) =>
  execFileSync('ssh-keygen', ['-lf', `${KEYS[name].file}.pub`])
    .toString()
    .split(' ')[1];

function signedRollback(quorum = 1) {
  return lightdashRollback({ kind: 'emergency' }, (t) => {
    t.approval.required = { emergency: true };
    t.approval.quorum = quorum;
    t.approval.requireSignature = true;
    t.approval.allowedSigners = (['carol', 'dave', 'erin'] as const).map((n) => `${n} ${KEYS[n].pub}`);
    t.onFailure = { wait: { emergency: true }, timeoutSeconds: 600, default: { emergency: 'abort' } };
  });
}

async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) return err.cause?.message ?? err.message;
    throw err;
  }
  throw new Error('the update was accepted');
}

/** What the CLI sends for `rollback approve --as BY --sign-with KEY`, for this run (or another). */
async function approval(d: Driver, by: string, keyName: keyof typeof KEYS, over: Partial<SignedAction> = {}) {
  const desc = await d.handle.describe();
  const signed = signAction(KEYS[keyName].file, {
    workflowId: d.handle.workflowId,
    runId: desc.runId,
    action: 'approve',
    by,
    comment: 'looks right',
    ...over,
  });
  return { by, comment: 'looks right', ...signed };
}

test('an approval counts only when signed by the approver’s own allowed key, for this rollback and run', async () => {
  const input = signedRollback();
  const refusals: string[] = [];
  const run = await runRollback(input, {
    drive: async (d) => {
      await d.noticeDelivered('awaiting-approval');
      const update = (args: Awaited<ReturnType<typeof approval>> | { by: string }) =>
        refused(d.handle.executeUpdate(approveUpdate, { args: [args] }));
      // --as alone no longer suffices.
      refusals.push(await update({ by: 'carol' }));
      // A key not in the list; dave's key claiming to be carol; signed for another workflow; for an
      // earlier run of this one; a different comment than the one signed.
      refusals.push(await update(await approval(d, 'carol', 'mallory')));
      refusals.push(await update(await approval(d, 'carol', 'dave')));
      refusals.push(await update(await approval(d, 'carol', 'carol', { workflowId: 'rollback-other' })));
      refusals.push(await update(await approval(d, 'carol', 'carol', { runId: 'an-earlier-run' })));
      refusals.push(await update({ ...(await approval(d, 'carol', 'carol')), comment: 'edited' }));
      // A signal with a bad signature is refused too (kept in the audit trail).
      await d.handle.signal(approveSignal, await approval(d, 'carol', 'mallory'));
      await d.progressWhen('the refused signal audited', (r) => r.audit.some((a) => a.outcome === 'refused'));
      const ok = await d.handle.executeUpdate(approveUpdate, { args: [await approval(d, 'carol', 'carol')] });
      expect(ok).toMatchObject({ accepted: true, approvals: 1 });
    },
  });
  expect(refusals[0]).toContain('takes signed approvals only');
  expect(refusals[1]).toContain(`the key ${fingerprint('mallory')} is not an allowed signer`);
  expect(refusals[2]).toContain(`the key ${fingerprint('dave')} is dave's, not carol's`);
  expect(refusals[3]).toContain('does not match this action');
  expect(refusals[4]).toContain('does not match this action');
  expect(refusals[5]).toContain('does not match this action');
  expect(run.record.status).toBe('succeeded');
  expect(run.record.approvals).toEqual([
    expect.objectContaining({
      by: 'carol',
      decision: 'approved',
      via: 'update',
      signedBy: fingerprint('carol'),
    }),
  ]);
  expect(run.record.audit).toContainEqual(
    expect.objectContaining({
      by: 'carol',
      action: 'approve',
      outcome: 'accepted',
      signedBy: fingerprint('carol'),
    }),
  );
  expect(run.record.audit).toContainEqual(
    expect.objectContaining({
      by: 'carol',
      action: 'approve',
      outcome: 'refused',
      detail: expect.stringContaining('not an allowed signer'),
    }),
  );
  // Refused updates leave nothing in the history; one accepted update does.
  expect(run.historyEvents.filter((e) => e === 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED')).toHaveLength(1);
});

test('a signed decision counts once: the same signature replayed at the next failure of that step is refused', async () => {
  const input = signedRollback();
  let replay = '';
  const run = await runRollback(input, {
    fakes: { fail: { checkoutRef: { times: 2, type: 'CheckoutFailed', nonRetryable: true } } },
    drive: async (d) => {
      await d.noticeDelivered('awaiting-approval');
      await d.handle.executeUpdate(approveUpdate, { args: [await approval(d, 'dave', 'dave')] });
      await d.noticeDelivered('step-failed');
      const runId = (await d.handle.describe()).runId;
      const decision = {
        by: 'carol',
        decision: 'retry' as const,
        stepId: 'checkout',
        ...signAction(KEYS.carol.file, {
          workflowId: d.handle.workflowId,
          runId,
          action: 'decide',
          by: 'carol',
          stepId: 'checkout',
          decision: 'retry',
        }),
      };
      // Unsigned: refused, even from an approver.
      expect(
        await refused(
          d.handle.executeUpdate(decideUpdate, {
            args: [{ by: 'carol', decision: 'retry', stepId: 'checkout' }],
          }),
        ),
      ).toContain('takes signed decisions only');
      await d.handle.executeUpdate(decideUpdate, { args: [decision] });
      await d.noticeDelivered('step-failed', 2);
      await d.progressWhen('awaiting the second decision', (r) => r.status === 'awaiting-decision');
      replay = await refused(d.handle.executeUpdate(decideUpdate, { args: [decision] }));
      const abort = signAction(KEYS.erin.file, {
        workflowId: d.handle.workflowId,
        runId,
        action: 'decide',
        by: 'erin',
        stepId: 'checkout',
        decision: 'abort',
      });
      await d.handle.executeUpdate(decideUpdate, {
        args: [{ by: 'erin', decision: 'abort', stepId: 'checkout', ...abort }],
      });
    },
  });
  expect(replay).toContain('used already');
  expect(run.record.status).toBe('aborted');
  expect(run.record.decisions.map((e) => [e.by, e.decision, e.signedBy])).toEqual([
    ['carol', 'retry', fingerprint('carol')],
    ['erin', 'abort', fingerprint('erin')],
  ]);
});

test('a target that requires signatures with an approver who has no allowed key is refused at plan time, naming them', () => {
  const input = signedRollback();
  expect(input.plan.approval).toMatchObject({ requireSignature: true });
  expect(() =>
    lightdashRollback({ kind: 'emergency' }, (t) => {
      t.approval.required = { emergency: true };
      t.approval.requireSignature = true;
      t.approval.allowedSigners = [`carol ${KEYS.carol.pub}`];
    }),
  ).toThrow(/dave, erin have no key among the allowed signers/);
  expect(() => parseAllowedSigners([`* ${KEYS.carol.pub}`])).toThrow(/no wildcards/);
  expect(() => parseAllowedSigners(['carol ssh-rsa AAAAB3NzaC1yc2E'])).toThrow(/only ssh-ed25519 keys/);
});

/**
 * `rollback approve --sign-with`, the real command against the dev server and a worker of fake
 * activities (the gate is under test, not the service): --as alone is refused; a key ssh-keygen
 * cannot use is refused before anything is sent; the approver's key gets the rollback through.
 */
describe('rollback approve --sign-with', () => {
  const taskQueue = testTaskQueue('signed');
  const root = mkdtempSync(join(tmpdir(), 'rb-signed-'));
  const deployPath = join(root, 'srv');
  let client: RollbackClient;
  let stopWorker: () => Promise<void>;

  beforeAll(async () => {
    mkdirSync(deployPath);
    installTestRuntime();
    const { worker, close } = await createWorker({ taskQueue, activities: createFakeActivities() });
    const running = worker.run();
    stopWorker = async () => {
      worker.shutdown();
      await running;
      await close();
    };
    client = await connectClient(taskQueue);
  });
  afterAll(async () => {
    await client?.close();
    await stopWorker?.();
    rmSync(root, { recursive: true, force: true });
  });

  test('--as alone is refused; an unusable key is refused before sending; the approver’s key approves', async () => {
    const target = 'signed-svc';
    const config = parseConfig(
      stringify({
        version: 1,
        approvers: ['carol', 'dave'],
        allowedSigners: [`carol ${KEYS.carol.pub}`, `dave ${KEYS.dave.pub}`],
        targets: {
          [target]: {
            ...commandTarget(target, deployPath, root),
            approval: { required: { emergency: true }, requireSignature: true },
          },
        },
      }),
      'inline.yaml',
    );
    const request: RollbackRequest = {
      rollbackId: `${target}-${Date.now()}`,
      target,
      kind: 'emergency',
      reason: 'v1.20.2 fails',
      requestedBy: 'alice',
      requestedAt: new Date().toISOString(),
    };
    const plan = planRollback(getTarget({ file: 'inline.yaml', config }, target), request, config);
    const started = await client.start(request, plan);
    await eventually(
      'awaiting approval',
      async () => (await client.progress(started.workflowId)).status === 'awaiting-approval',
    );

    const unsigned = await runCli(['approve', started.workflowId, '--as', 'carol']);
    expect(unsigned.code).not.toBe(0);
    expect(unsigned.stderr).toContain('takes signed approvals only');
    const badKey = await runCli([
      'approve',
      started.workflowId,
      '--as',
      'carol',
      '--sign-with',
      join(root, 'nokey'),
    ]);
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain('ssh-keygen could not sign with');
    const wrongPerson = await runCli([
      'approve',
      started.workflowId,
      '--as',
      'carol',
      '--sign-with',
      KEYS.dave.file,
    ]);
    expect(wrongPerson.stderr).toContain("is dave's, not carol's");
    expect((await client.progress(started.workflowId)).approvals).toEqual([]);

    const ok = await runCli([
      'approve',
      started.workflowId,
      '--as',
      'carol',
      '--sign-with',
      KEYS.carol.file,
      '--json',
    ]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ by: 'carol', signed: true, result: { accepted: true } });
    const result = await client.result(started.workflowId, started.runId);
    expect(result.record!.status).toBe('succeeded');
    expect(result.record!.approvals).toEqual([
      expect.objectContaining({ by: 'carol', signedBy: fingerprint('carol') }),
    ]);
  });
});

test('a key held by ssh-agent signs when given its .pub file', async () => {
  const agent = execFileSync('ssh-agent', ['-s']).toString();
  const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(agent)![1]!;
  const pid = /SSH_AGENT_PID=(\d+);/.exec(agent)![1]!;
  const env = { ...process.env, SSH_AUTH_SOCK: sock };
  try {
    execFileSync('ssh-add', ['-q', KEYS.erin.file], { env, stdio: 'ignore' });
    const action = { workflowId: 'rollback-x', runId: 'r1', action: 'approve' as const, by: 'erin' };
    const before = process.env.SSH_AUTH_SOCK;
    process.env.SSH_AUTH_SOCK = sock;
    let signed: { signature: string; nonce: string };
    try {
      signed = signAction(`${KEYS.erin.file}.pub`, action);
    } finally {
      if (before === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = before;
    }
    const signers = parseAllowedSigners([`erin ${KEYS.erin.pub}`]);
    expect(
      verifySignature(signed.signature, signedMessage({ ...action, nonce: signed.nonce }), signers),
    ).toEqual({
      principals: ['erin'],
      fingerprint: fingerprint('erin'),
    });
  } finally {
    process.kill(Number(pid));
  }
});
