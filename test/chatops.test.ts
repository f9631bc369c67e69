import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { createChatOps } from '../src/chatops/app';
import { ACTIONS } from '../src/chatops/blocks';
import type { RollbackClient } from '../src/client';
import { buildReports } from '../src/reports';
import { createWorker } from '../src/worker';
import { commandTarget } from './rig/configs';
import { eventually } from './rig/eventually';
import { createFakeActivities } from './rig/fake-activities';
import { runCli } from './rig/rollback';
import { postToApp, startSlackApi, startSlackSocket, type SlackApi, type SlackCall } from './rig/slack';
import { connectClient, installTestRuntime, testTaskQueue } from './rig/temporal';

/**
 * ChatOps: the real Bolt app (HTTP mode, signature verification by Bolt), requests signed with the
 * real signing-secret algorithm, a local stand-in for Slack's Web API (Slack cannot be reached from
 * here) recording what the app posts, and the real dev server with a worker of fake activities (the
 * chat front end and the workflow's gates are under test, not a service). Chat approvals are signed
 * by the chatops process's own SSH key, an allowed signer for the mapped approvers.
 */

const SECRET = `signing-${Math.random().toString(36).slice(2)}`;
const TOKEN = `xoxb-test-${Math.random().toString(36).slice(2)}`;
const USERS = { carol: 'UCAROL001', dave: 'UDAVE0001', nobody: 'UNOBODY01' };
const CHANNEL = 'C0ONCALL1';
const taskQueue = testTaskQueue('chatops');
const root = mkdtempSync(join(tmpdir(), 'rb-chatops-'));
const deployPath = join(root, 'srv');
/** chatops-c's checkout fails once, for good: its rollback waits for a decision. */
const failingPath = join(root, 'srv-c');
const keyFile = join(root, 'chatops_key');
const configFile = join(root, 'rollback.yaml');

let slack: SlackApi;
let client: RollbackClient;
let chat: ReturnType<typeof createChatOps>;
let appUrl: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  for (const p of [deployPath, failingPath]) {
    mkdirSync(p);
    execFileSync('git', ['init', '-q', p]);
  }
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'chatops', '-f', keyFile]);
  const target = (name: string) => ({
    ...commandTarget(name, deployPath, root),
    approval: { required: { emergency: true }, requireSignature: true },
  });
  writeFileSync(
    configFile,
    stringify({
      version: 1,
      approvers: [
        { name: 'carol', slack: USERS.carol },
        { name: 'dave', slack: USERS.dave },
      ],
      allowedSigners: [`carol,dave ${readFileSync(`${keyFile}.pub`, 'utf8').trim()}`],
      targets: {
        'chatops-a': target('chatops-a'),
        'chatops-b': target('chatops-b'),
        'chatops-d': target('chatops-d'),
        'chatops-c': {
          ...commandTarget('chatops-c', failingPath, root),
          approval: { requireSignature: true },
          onFailure: { wait: { emergency: true }, default: { emergency: 'abort' } },
        },
      },
    }),
  );
  installTestRuntime();
  const fakes = createFakeActivities();
  let checkoutFailed = false;
  const activities = {
    ...fakes,
    checkoutRef: async (input: Parameters<typeof fakes.checkoutRef>[0], on?: never) => {
      if (input.path === failingPath && !checkoutFailed) {
        checkoutFailed = true;
        throw ApplicationFailure.create({
          message: 'the tag is not there',
          type: 'CheckoutFailed',
          nonRetryable: true,
        });
      }
      return fakes.checkoutRef(input, on);
    },
  };
  const { worker, close } = await createWorker({ taskQueue, activities });
  const running = worker.run();
  cleanups.push(async () => {
    worker.shutdown();
    await running;
    await close();
  });
  client = await connectClient(taskQueue);
  cleanups.push(() => client.close());
  // The app refuses to start a rollback no worker would run: wait until the server sees this one
  // polling (on a loaded machine its first poll can come seconds after run()).
  await eventually('the worker polls', async () => (await client.workerPresence()).polling, 60_000, 200);
  slack = await startSlackApi();
  cleanups.push(() => slack.close());
  chat = createChatOps({
    client,
    configFile,
    botToken: TOKEN,
    signingSecret: SECRET,
    apiUrl: slack.url,
    signWith: keyFile,
    pollMs: 300,
  });
  const { port } = await chat.start(0);
  cleanups.push(() => chat.stop());
  appUrl = `http://127.0.0.1:${port}/slack/events`;
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

const fingerprint = () =>
  execFileSync('ssh-keygen', ['-lf', `${keyFile}.pub`])
    .toString()
    .split(' ')[1];

function slash(user: string, text: string) {
  return postToApp(appUrl, SECRET, {
    command: '/rollback',
    text,
    user_id: user,
    channel_id: CHANNEL,
    team_id: 'T0TEAM001',
    trigger_id: 'trigger.1',
    response_url: `${slack.url}respond`,
    token: 'legacy',
  });
}

interface Posted {
  ts: string;
  value: string;
}

function button(user: string, posted: Posted, actionId: string = ACTIONS.approve) {
  const payload = {
    type: 'block_actions',
    user: { id: user, team_id: 'T0TEAM001' },
    api_app_id: 'A0APP0001',
    token: 'legacy',
    team: { id: 'T0TEAM001', domain: 'acme' },
    trigger_id: `trigger.${Math.random()}`,
    container: { type: 'message', message_ts: posted.ts, channel_id: CHANNEL, is_ephemeral: false },
    channel: { id: CHANNEL, name: 'oncall' },
    message: { ts: posted.ts, type: 'message', text: '' },
    response_url: `${slack.url}respond`,
    actions: [
      { action_id: actionId, block_id: 'approval', value: posted.value, type: 'button', action_ts: '1' },
    ],
  };
  return postToApp(appUrl, SECRET, { payload: JSON.stringify(payload) });
}

const actionsOf = (c: SlackCall) =>
  ((c.args.blocks ?? []) as { type: string; elements?: { action_id: string; value: string }[] }[]).filter(
    (b) => b.type === 'actions',
  );

/** The rollback's own message (not a thread reply), once the app has posted it. */
function firstMessage(target: string): Promise<SlackCall> {
  return eventually(`the message of ${target}`, () => {
    const found = slack
      .of('chat.postMessage')
      .find((p) => !p.args.thread_ts && JSON.stringify(p.args.blocks ?? '').includes(`*${target}*`));
    if (found) return found;
    // What the app told people instead (an error is an ephemeral reply), for the failure message.
    throw new Error(
      `not posted; ephemeral replies so far: ${JSON.stringify(slack.of('chat.postEphemeral').map((c) => c.args.text))}`,
    );
  });
}

/** The rollback's message (its ts) and its Approve button's value, once the button is there. */
async function posted(target: string): Promise<Posted> {
  const first = await firstMessage(target);
  const ts = String(first.answer.ts);
  const value = await eventually(`the Approve button of ${target}`, () => {
    for (const c of [first, ...slack.of('chat.update').filter((u) => u.args.ts === ts)].reverse()) {
      const approve = actionsOf(c)
        .flatMap((b) => b.elements ?? [])
        .find((e) => e.action_id === ACTIONS.approve);
      if (approve) return approve.value;
    }
    return false;
  });
  return { ts, value };
}

const ephemerals = (user: string) =>
  slack
    .of('chat.postEphemeral')
    .filter((c) => c.args.user === user)
    .map((c) => String(c.args.text));

async function lastUpdate(ts: string): Promise<SlackCall | undefined> {
  return slack
    .of('chat.update')
    .filter((c) => c.args.ts === ts)
    .at(-1);
}

test('start from /rollback, approve with the button: refused for the requester and an unmapped user, counted for an approver; the message ends without buttons', async () => {
  const r = await slash(USERS.carol, 'start emergency chatops-a v1.20.2 fails health checks');
  expect(r.status).toBe(200);
  const msg = await posted('chatops-a');
  const ts = msg.ts;
  const { workflowId, runId } = JSON.parse(msg.value) as { workflowId: string; runId: string };
  expect((await client.progress(workflowId)).requestedBy).toBe('carol');

  // The requester's own approval and an unmapped user's: refused, told only to them, nothing counted.
  await button(USERS.carol, { ts, value: msg.value });
  await eventually('carol told why', () =>
    ephemerals(USERS.carol).some((t) => t.includes('requested this rollback and may not approve it')),
  );
  await button(USERS.nobody, { ts, value: msg.value });
  await eventually('nobody told why', () =>
    ephemerals(USERS.nobody).some((t) => t.includes('is not mapped to a person')),
  );
  expect((await client.progress(workflowId)).approvals).toEqual([]);

  const approved = await button(USERS.dave, { ts, value: msg.value });
  expect(approved.status).toBe(200);
  const result = await client.result(workflowId, runId);
  expect(result.record!.status).toBe('succeeded');
  expect(result.record!.approvals).toEqual([
    expect.objectContaining({ by: 'dave', decision: 'approved', channel: 'slack', signedBy: fingerprint() }),
  ]);
  // The reports say where the approval came from and which key signed it.
  const reports = buildReports(result.record!);
  expect(reports.analysis).toContain(`**approved** (from slack, signed by ${fingerprint()})`);
  expect(reports.logEntry).toContain(`approved by dave from slack (signed by ${fingerprint()})`);
  await eventually('the message updated to succeeded without buttons', async () => {
    const last = await lastUpdate(ts);
    return !!last && String(last.args.text).includes('succeeded') && actionsOf(last).length === 0;
  });
  // Each step's end is told in the message's thread.
  expect(slack.of('chat.postMessage').filter((c) => c.args.thread_ts === ts).length).toBeGreaterThan(3);

  // The same request again (same body, signature and time): dropped, nothing said or done.
  const before = slack.calls.length;
  await postToApp(
    appUrl,
    SECRET,
    {},
    { raw: approved.raw, timestamp: approved.timestamp, signature: approved.signature },
  );
  // A fresh press of a button of a rollback that ended: refused, saying so.
  await button(USERS.dave, { ts, value: msg.value });
  await eventually('dave told it ended', () =>
    ephemerals(USERS.dave).some((t) => t.includes('already ended')),
  );
  expect(slack.calls.slice(before).filter((c) => c.method === 'chat.postEphemeral')).toHaveLength(1);

  const history = await client.client.workflow.getHandle(workflowId).fetchHistory();
  const text = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
  expect(text).not.toContain(TOKEN);
  expect(text).not.toContain(SECRET);
});

test('reject asks for a reason in a modal; the rejection ends the rollback and the message', async () => {
  await slash(USERS.carol, 'start emergency chatops-b the new release leaks memory');
  const msg = await posted('chatops-b');
  const ts = msg.ts;
  const { workflowId, runId } = JSON.parse(msg.value) as { workflowId: string; runId: string };
  await button(USERS.dave, { ts, value: msg.value }, ACTIONS.reject);
  const modal = await eventually('the reject modal', () => slack.of('views.open').at(-1));
  expect(modal.args.view).toMatchObject({ callback_id: ACTIONS.rejectModal });
  const submit = (reason: string) =>
    postToApp(appUrl, SECRET, {
      payload: JSON.stringify({
        type: 'view_submission',
        team: { id: 'T0TEAM001', domain: 'acme' },
        user: { id: USERS.dave, team_id: 'T0TEAM001' },
        api_app_id: 'A0APP0001',
        token: 'legacy',
        trigger_id: 'trigger.9',
        view: {
          id: 'V0001',
          type: 'modal',
          callback_id: ACTIONS.rejectModal,
          private_metadata: modal.args.view.private_metadata,
          state: { values: { reason: { reason: { type: 'plain_text_input', value: reason } } } },
          hash: 'h',
        },
      }),
    });
  const empty = await submit('   ');
  expect(JSON.parse(empty.text)).toMatchObject({ response_action: 'errors' });
  await submit('not during the sale');
  const result = await client.result(workflowId, runId).catch(() => undefined);
  const record = result?.record ?? (await client.progress(workflowId, runId));
  expect(record.status).toBe('rejected');
  expect(record.approvals).toEqual([
    expect.objectContaining({
      by: 'dave',
      decision: 'rejected',
      comment: 'not during the sale',
      channel: 'slack',
    }),
  ]);
  await eventually('the message says rejected, without buttons', async () => {
    const last = await lastUpdate(ts);
    return !!last && String(last.args.text).includes('rejected') && actionsOf(last).length === 0;
  });
});

test('requests Slack did not sign, signed too long ago, or with a malformed payload change nothing', async () => {
  const before = slack.calls.length;
  const running = (await client.list({ target: 'chatops-a' })).length;
  const form = {
    command: '/rollback',
    text: 'start emergency chatops-a x',
    user_id: USERS.carol,
    channel_id: CHANNEL,
  };
  const forged = await postToApp(appUrl, 'not-the-secret', form);
  expect(forged.status).toBe(401);
  const stale = await postToApp(appUrl, SECRET, form, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
  expect(stale.status).toBe(401);
  const malformed = await postToApp(appUrl, SECRET, { payload: '{"type": "block_actions", not json' });
  expect(malformed.status).not.toBe(200);
  await new Promise((r) => setTimeout(r, 500));
  // Messages of earlier tests' rollbacks may still get their last update or thread reply; anything
  // else (a new message, an ephemeral reply, a modal) would have come from these requests.
  const earlier = new Set(slack.calls.slice(0, before).map((c) => String(c.answer.ts ?? '')));
  const aboutEarlier = (c: SlackCall) =>
    earlier.has(String(c.args.thread_ts ?? '')) ||
    (c.method === 'chat.update' && earlier.has(String(c.args.ts ?? '')));
  expect(slack.calls.slice(before).filter((c) => !aboutEarlier(c))).toEqual([]);
  expect((await client.list({ target: 'chatops-a' })).length).toBe(running);
});

test('an unknown command or target gets a reply saying the fix; rollback chatops needs its secrets from the environment', async () => {
  await slash(USERS.carol, 'strat emergency chatops-a oops');
  await eventually('usage', () =>
    ephemerals(USERS.carol).some((t) => t.includes('unknown command') && t.includes('/rollback start')),
  );
  await slash(USERS.carol, 'start emergency nope broken');
  await eventually('unknown target', () => ephemerals(USERS.carol).some((t) => t.includes('nope')));
  const r = await runCli(['--config', configFile, 'chatops'], {
    SLACK_BOT_TOKEN: undefined,
    SLACK_SIGNING_SECRET: undefined,
  });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET');
});

test('a step that failed for good waits with Retry / Skip / Compensate / Abort buttons; a decision from chat moves it on', async () => {
  await slash(USERS.carol, 'start emergency chatops-c checkout keeps failing');
  const first = await firstMessage('chatops-c');
  const ts = String(first.answer.ts);
  const retry = await eventually('the Retry button', () =>
    slack
      .of('chat.update')
      .filter((u) => u.args.ts === ts)
      .flatMap((u) => actionsOf(u).flatMap((b) => b.elements ?? []))
      .find((e) => e.action_id === `${ACTIONS.decide}_retry`),
  );
  const { workflowId, runId, stepId } = JSON.parse(retry.value) as {
    workflowId: string;
    runId: string;
    stepId: string;
  };
  expect(stepId).toBe('checkout');
  await button(USERS.dave, { ts, value: retry.value }, `${ACTIONS.decide}_retry`);
  const result = await client.result(workflowId, runId);
  expect(result.record!.status).toBe('succeeded');
  expect(result.record!.decisions).toEqual([
    expect.objectContaining({
      by: 'dave',
      decision: 'retry',
      stepId: 'checkout',
      channel: 'slack',
      signedBy: fingerprint(),
    }),
  ]);
});

test('Socket Mode: the same commands and buttons over the socket; a redelivered envelope is acted on once', async () => {
  const socket = await startSlackSocket();
  slack.answers['apps.connections.open'] = { url: socket.url };
  const viaSocket = createChatOps({
    client,
    configFile,
    botToken: TOKEN,
    appToken: 'xapp-test',
    apiUrl: slack.url,
    signWith: keyFile,
    pollMs: 300,
  });
  try {
    await viaSocket.start();
    await socket.connected;
    const command = {
      command: '/rollback',
      text: 'start emergency chatops-d from the socket',
      user_id: USERS.carol,
      channel_id: CHANNEL,
      team_id: 'T0TEAM001',
    };
    expect(await socket.send('slash_commands', command)).toMatchObject({ envelope_id: expect.any(String) });
    const first = await firstMessage('chatops-d');
    const ts = String(first.answer.ts);
    const approve = await eventually('the Approve button', () =>
      [first, ...slack.of('chat.update').filter((u) => u.args.ts === ts)]
        .flatMap((c) => actionsOf(c).flatMap((b) => b.elements ?? []))
        .find((e) => e.action_id === ACTIONS.approve),
    );
    const { workflowId, runId } = JSON.parse(approve.value) as { workflowId: string; runId: string };
    const press = {
      type: 'block_actions',
      user: { id: USERS.dave, team_id: 'T0TEAM001' },
      team: { id: 'T0TEAM001', domain: 'acme' },
      trigger_id: 'trigger.s',
      channel: { id: CHANNEL, name: 'oncall' },
      message: { ts, type: 'message', text: '' },
      container: { type: 'message', message_ts: ts, channel_id: CHANNEL },
      actions: [
        {
          action_id: ACTIONS.approve,
          block_id: 'approval',
          value: approve.value,
          type: 'button',
          action_ts: '1',
        },
      ],
    };
    await socket.send('interactive', press, 'env-approve-1');
    const result = await client.result(workflowId, runId);
    expect(result.record!.approvals).toEqual([
      expect.objectContaining({ by: 'dave', channel: 'slack', signedBy: fingerprint() }),
    ]);
    // Redelivered (same envelope id): acknowledged, not acted on; no "already ended" reply.
    const before = slack.of('chat.postEphemeral').length;
    await socket.send('interactive', press, 'env-approve-1');
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.of('chat.postEphemeral').length).toBe(before);
  } finally {
    await viaSocket.stop();
    await socket.close();
  }
});
