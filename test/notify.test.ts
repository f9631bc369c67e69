import { createServer, type Socket } from 'node:net';
import { temporal } from '@temporalio/proto';
import type { RollbackClient } from '../src/client';
import { Cleanup } from './rig/cleanup';
import { eventually } from './rig/eventually';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { createSandbox, type Sandbox, type SandboxOptions } from './rig/sandbox';
import { startReceiver, startRollback, waitForStatus } from './rig/rollback';

const taskQueue = testTaskQueue('notify');
let client: RollbackClient;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let blackHoleUrl: string;
// The far ends and sandboxes go after the worker, which may still be sending to them.
const endpoints = new Cleanup();
const workers = new Cleanup();

beforeAll(async () => {
  receiver = await startReceiver();
  endpoints.add('the receiver', receiver.close);
  // Accepts connections and never answers: the worst kind of dead endpoint.
  const sockets = new Set<Socket>();
  const blackHole = createServer((socket) => void sockets.add(socket));
  await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
  endpoints.add('the black hole', () => {
    for (const socket of sockets) socket.destroy();
    return new Promise((r) => blackHole.close(r));
  });
  blackHoleUrl = `http://127.0.0.1:${(blackHole.address() as { port: number }).port}/hook`;
  // The Slack webhook URL is a secret: the config names the variable, the worker holds the value.
  process.env.TEST_SLACK_WEBHOOK_URL = `${receiver.url}/slack-secret-token-path`;
  const worker = await startWorker(taskQueue);
  workers.add('the worker', () => worker.stop());
  client = await connectClient(taskQueue);
  workers.add('the client', () => client.close());
});

afterAll(async () => {
  try {
    await workers.run();
  } finally {
    await endpoints.run();
  }
});

async function sandbox(opts: SandboxOptions): Promise<Sandbox> {
  const sb = await createSandbox(opts);
  endpoints.add(`sandbox ${opts.name}`, () => sb.cleanup());
  return sb;
}

function channels() {
  return [
    { type: 'webhook', name: 'ops-hook', url: `${receiver.url}/hook` },
    { type: 'slack', name: 'oncall-slack', urlEnv: 'TEST_SLACK_WEBHOOK_URL' },
    { type: 'statuspage', name: 'status', url: `${receiver.url}/status`, component: 'lightdash-mcp' },
    { type: 'webhook', name: 'dead', url: 'http://127.0.0.1:1/hook' },
    { type: 'webhook', name: 'black-hole', url: blackHoleUrl },
  ];
}

const bodiesFor = (workflowRunId: string, path: string) =>
  receiver.bodies.filter((b) => b.path === path && JSON.stringify(b.body).includes(workflowRunId));

test('each channel receives the events with the expected content, and dead endpoints neither slow nor fail the rollback', async () => {
  const sb = await sandbox({
    name: 'notify-ok',
    badMode: 'none',
    configure: (t) => {
      t.partial = { flags: { QURATOR: 'false' } };
      t.notify = { channels: channels() };
    },
  });
  const started = await startRollback(client, sb, { kind: 'partial', webUiBase: 'http://ui.example:8233' });
  const result = await client.result(started.workflowId, started.runId);
  expect(result.ok).toBe(true);

  // The rollback closed while the notifications to the dead endpoints were still being retried.
  const firstNotice = client.client.workflow.getHandle(
    `${started.workflowId}-${started.runId}-notify-1-started`,
  );
  expect((await firstNotice.describe()).status.name).toBe('RUNNING');

  await eventually('the succeeded event on every live channel', () =>
    ['/hook', '/slack-secret-token-path', '/status'].every((p) =>
      receiver.bodies.some(
        (b) =>
          b.path === p &&
          JSON.stringify(b.body).includes('succeeded') &&
          JSON.stringify(b.body).includes(sb.target),
      ),
    ),
  );
  const hook = receiver.bodies.filter(
    (b) => b.path === '/hook' && b.body.rollbackId === started.request.rollbackId,
  );
  expect(hook.map((b) => b.body.type)).toEqual(['started', 'succeeded']);
  expect(hook[1].body).toMatchObject({
    target: sb.target,
    kind: 'partial',
    status: 'succeeded',
    fromVersion: 'v1.20.2',
    webUrl: `http://ui.example:8233/namespaces/default/workflows/${started.workflowId}/${started.runId}/history`,
  });
  const slack = receiver.bodies.filter(
    (b) => b.path === '/slack-secret-token-path' && b.body.text.includes(sb.target),
  );
  expect(slack.map((b) => b.body.text)).toEqual([
    expect.stringContaining(`partial rollback of ${sb.target}`),
    expect.stringMatching(/succeeded\*\n<http:\/\/ui\.example:8233\/.*\|Open in the Temporal Web UI>/),
  ]);
  const status = receiver.bodies.filter(
    (b) => b.path === '/status' && b.body.rollbackId === started.request.rollbackId,
  );
  expect(status.map((b) => b.body)).toEqual([
    expect.objectContaining({ component: 'lightdash-mcp', status: 'degraded_performance' }),
    expect.objectContaining({ component: 'lightdash-mcp', status: 'operational' }),
  ]);
  // No secret in any message, and the Slack URL (held by the worker) never entered any history.
  expect(JSON.stringify(receiver.bodies)).not.toContain(sb.secret);
  const childHistory = Buffer.from(
    temporal.api.history.v1.History.encode(await firstNotice.fetchHistory()).finish(),
  );
  expect(childHistory.includes(Buffer.from('TEST_SLACK_WEBHOOK_URL'))).toBe(true);
  expect(childHistory.includes(Buffer.from('slack-secret-token-path'))).toBe(false);
  expect(bodiesFor(started.runId, '/hook')).toHaveLength(2);
  await firstNotice.terminate('test done');
});

test('a step that fails: step-failed (awaiting a decision) and compensated are announced', async () => {
  const sb = await sandbox({
    name: 'notify-fail',
    badMode: 'none',
    configure: (t) => {
      t.partial = { flags: { QURATOR: 'false' } };
      t.notify = { channels: [channels()[0]] };
      t.validate.latency.maxAverageMs = 0.001;
    },
  });
  const started = await startRollback(client, sb, { kind: 'partial' });
  await waitForStatus(client, started.workflowId, 'awaiting-decision');
  await eventually('step-failed', () =>
    receiver.bodies.some(
      (b) => b.body.rollbackId === started.request.rollbackId && b.body.type === 'step-failed',
    ),
  );
  await client.act(started.workflowId, 'decide', { by: 'alice', decision: 'compensate' });
  await client.result(started.workflowId, started.runId);
  await eventually('compensated', () =>
    receiver.bodies.some(
      (b) => b.body.rollbackId === started.request.rollbackId && b.body.type === 'compensated',
    ),
  );
  const events = receiver.bodies
    .filter((b) => b.body.rollbackId === started.request.rollbackId)
    .map((b) => b.body);
  expect(events.map((e) => e.type)).toEqual(['started', 'step-failed', 'compensated']);
  expect(events[1]).toMatchObject({
    step: { id: 'validate-latency', title: expect.stringContaining('Sample latency') },
  });
  expect(events[1].message).toContain('awaiting a decision');
  expect(events[1].step.error).toContain('latency over budget');
});
