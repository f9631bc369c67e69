import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { RefusedError } from '../src/client';
import { git, GOOD_VERSION } from './rig/fixture-repo';
import { eventually } from './rig/eventually';
import { rollbackSuite } from './rig/suite';
import { FIXTURE_TOOLS, health } from './rig/sandbox';
import { listToolsHttp, runCli, startReceiver, startRollback, waitForStatus } from './rig/rollback';

const suite = rollbackSuite('approval');

async function updateEvents(workflowId: string): Promise<number> {
  const history = await suite.client.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).filter(
    (e) =>
      e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED ||
      e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
  ).length;
}

test('a complete rollback waits for an authorised approval; self and unlisted approvals are refused and leave no trace in history', async () => {
  const sb = await suite.sandbox({
    name: 'appr-complete',
    configure: (t, config) => {
      config.approvers = ['carol'];
      t.approval = { approvers: ['dave'] };
      t.validate.health.expectVersion = false;
    },
  });
  const badCommit = await git(['rev-parse', 'v1.20.2^{commit}'], sb.work);
  const started = await startRollback(suite.client, sb, {
    kind: 'complete',
    commits: [badCommit],
    requestedBy: 'alice',
  });
  const waiting = await waitForStatus(suite.client, started.workflowId, 'awaiting-approval');
  // Only the read-only look at what runs comes before the approval; nothing has changed.
  expect(waiting.steps.filter((s) => s.state !== 'pending').map((s) => s.id)).toEqual(['inspect']);

  // Refused at once by the Update validator: nothing enters the history.
  await expect(suite.client.act(started.workflowId, 'approve', { by: 'alice' })).rejects.toThrow(
    new RefusedError('alice requested this rollback and may not approve it'),
  );
  await expect(suite.client.act(started.workflowId, 'approve', { by: 'mallory' })).rejects.toThrow(
    /mallory is not an approver/,
  );
  expect(await updateEvents(started.workflowId)).toBe(0);
  // A signal cannot be refused to its sender: the refusal is kept in the audit trail, nothing changes.
  await suite.client.act(started.workflowId, 'approve', { by: 'mallory' }, true);
  await eventually('the refused approval in the audit trail', async () =>
    (await suite.client.audit(started.workflowId)).some((a) => a.by === 'mallory' && a.outcome === 'refused'),
  );
  const audit = await suite.client.audit(started.workflowId);
  expect(audit).toContainEqual(
    expect.objectContaining({ by: 'mallory', action: 'approve', outcome: 'refused' }),
  );
  expect((await suite.client.progress(started.workflowId)).status).toBe('awaiting-approval');

  const cli = await runCli([
    'approve',
    started.workflowId,
    '--as',
    'dave',
    '--comment',
    'revert looks right',
    '--json',
  ]);
  expect(cli.stderr).toBe('');
  expect(cli.code).toBe(0);
  expect(JSON.parse(cli.stdout)).toMatchObject({ by: 'dave', result: { approvals: 1, needed: 1 } });
  const result = await suite.client.result(started.workflowId, started.runId);
  expect(result.error).toBeUndefined();
  expect(result.record!.approvals).toEqual([
    expect.objectContaining({
      by: 'dave',
      decision: 'approved',
      comment: 'revert looks right',
      via: 'update',
    }),
  ]);

  // The remote got a revert commit on main, and the host runs that head, healthy.
  const remoteHead = await git(['rev-parse', 'main'], sb.remote);
  const message = await git(['log', '-1', '--format=%B', 'main'], sb.remote);
  expect(message).toContain(started.request.rollbackId);
  expect(await git(['rev-parse', 'HEAD'], sb.deployPath)).toBe(remoteHead);
  expect(await git(['merge-base', '--is-ancestor', badCommit, remoteHead], sb.remote)).toBe('');
  expect((await health(sb.port)).body).toMatchObject({ status: 'healthy', version: GOOD_VERSION });
  expect(await listToolsHttp(sb.port)).toHaveLength(FIXTURE_TOOLS);
});

describe('approval policy on partial rollbacks', () => {
  test('a quorum of two needs two distinct approvers', async () => {
    const sb = await suite.sandbox({
      name: 'appr-quorum',
      badMode: 'none',
      configure: (t) => {
        t.partial = { flags: { QURATOR: 'false' } };
        t.approval = { approvers: ['carol', 'dave'], required: { partial: true }, quorum: 2 };
      },
    });
    const started = await startRollback(suite.client, sb, { kind: 'partial', requestedBy: 'alice' });
    await waitForStatus(suite.client, started.workflowId, 'awaiting-approval');
    expect(await suite.client.act(started.workflowId, 'approve', { by: 'carol' })).toMatchObject({
      approvals: 1,
      needed: 2,
      status: 'awaiting-approval',
    });
    await expect(suite.client.act(started.workflowId, 'approve', { by: 'carol' })).rejects.toThrow(
      /carol has already approved/,
    );
    // The same person with stray white space is still the same person.
    await expect(suite.client.act(started.workflowId, 'approve', { by: ' carol ' })).rejects.toThrow(
      /carol has already approved/,
    );
    const second = await runCli(['approve', started.workflowId, '--as', 'dave']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('(2/2 approvals)');
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(true);
    expect(result.record!.approvals.map((a) => a.by)).toEqual(['carol', 'dave']);
    expect((await health(sb.port)).body).toMatchObject({ features: { qurator: false } });
  });

  test('no decision before the timeout: escalated, then the default (reject) applies and nothing changes', async () => {
    const receiver = await startReceiver();
    suite.defer('the notification receiver', receiver.close);
    const sb = await suite.sandbox({
      name: 'appr-timeout',
      badMode: 'none',
      configure: (t) => {
        t.partial = { flags: { QURATOR: 'false' } };
        t.approval = { approvers: ['carol'], required: { partial: true }, timeoutSeconds: 2 };
        t.notify = { channels: [{ type: 'webhook', name: 'ops', url: `${receiver.url}/hook` }] };
      },
    });
    const envBefore = readFileSync(join(sb.deployPath, '.env'), 'utf8');
    const started = await startRollback(suite.client, sb, { kind: 'partial', requestedBy: 'alice' });
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.ok).toBe(false);
    expect(result.error).toContain('was rejected by timeout');
    expect(result.record!.status).toBe('rejected');
    expect(result.record!.steps.filter((s) => s.state !== 'pending').map((s) => s.id)).toEqual([
      'inspect',
      'rollback-log',
    ]);
    expect(result.record!.audit.map((a) => a.action)).toEqual(['requested', 'escalated', 'timeout']);
    expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).toBe(envBefore);
    // Late: the request has been decided.
    await expect(suite.client.act(started.workflowId, 'approve', { by: 'carol' })).rejects.toThrow();
    await eventually('the rejected notification', () =>
      receiver.bodies.some((b) => b.body?.type === 'rejected'),
    );
    const asked = receiver.bodies.find((b) => b.body.type === 'awaiting-approval')!.body;
    expect(asked.approvers).toEqual(['carol']);
    expect(asked.plan).toEqual(
      expect.arrayContaining([
        'Set QURATOR=false in .env',
        'Restart pm2 process lightdash-appr-timeout with the new flags',
      ]),
    );
    expect(receiver.bodies.map((b) => b.body.type)).toEqual(
      expect.arrayContaining(['started', 'awaiting-approval', 'approval-escalated', 'rejected']),
    );
  });

  test('rollback reject: the approver says no with a reason, nothing runs, and the exit code says it failed', async () => {
    const sb = await suite.sandbox({
      name: 'appr-reject',
      badMode: 'none',
      configure: (t) => {
        t.partial = { flags: { QURATOR: 'false' } };
        t.approval = { approvers: ['carol'], required: { partial: true } };
      },
    });
    const envBefore = readFileSync(join(sb.deployPath, '.env'), 'utf8');
    const started = await startRollback(suite.client, sb, { kind: 'partial', requestedBy: 'alice' });
    await waitForStatus(suite.client, started.workflowId, 'awaiting-approval');
    const reject = await runCli([
      'reject',
      started.workflowId,
      '--as',
      'carol',
      '--reason',
      'fix forward instead',
    ]);
    expect(reject.code).toBe(0);
    expect(reject.stdout).toContain('carol rejected');
    const status = await runCli(['status', started.workflowId]);
    expect(status.stdout).toContain('rejected by carol');
    expect(status.code).toBe(1);
    const result = await suite.client.result(started.workflowId, started.runId);
    expect(result.error).toContain('was rejected by carol: fix forward instead; nothing was changed');
    expect(readFileSync(join(sb.deployPath, '.env'), 'utf8')).toBe(envBefore);
  });
});
