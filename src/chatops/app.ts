import type { Server } from 'node:http';
import { App, ExpressReceiver, LogLevel, SocketModeReceiver, type SlashCommand } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { RefusedError, type RollbackClient } from '../client';
import { signAction } from '../cli/signing';
import type { Decision, Plan, RollbackRecord, RollbackRequest } from '../model';
import { newRollbackId } from '../cli/ids';
import { checkTargetPaths, getTarget, loadConfig, type LoadedConfig } from '../targets/load';
import { formatPlan, planRollback } from '../targets/plan';
import { ACTIONS, ENDED, esc, rejectModal, rollbackMessage, type ButtonValue } from './blocks';
import { CHAT_USAGE, parseChatCommand, type ChatCommand } from './commands';

/**
 * `rollback chatops`: a Slack app (Bolt, HTTP mode) in front of the rollbacks. Every request is
 * verified by Bolt (the signing secret's HMAC over the body, a 5-minute timestamp window) before any
 * of this runs, and a request seen before (same signature) is acknowledged and dropped. People are
 * who the config maps their Slack user to (`approvers: [{ name, slack }]`); the workflow's own gates
 * then decide (approver lists, no self-approval, one approval per person), and with a key
 * (`signWith`) every chat action is signed for targets that require signatures. One message per
 * rollback, edited as it progresses, details in its thread, buttons only while they can act.
 */

export interface ChatOpsOptions {
  client: RollbackClient;
  /** rollback.yaml (read again for each request, so edits apply without a restart). */
  configFile?: string;
  botToken: string;
  /** HTTP mode: requests are verified with it. */
  signingSecret?: string;
  /** Socket Mode instead of HTTP: the app-level token (xapp-…); Slack's socket carries the requests. */
  appToken?: string;
  /** Slack's Web API base URL (tests: a stand-in), e.g. https://slack.com/api/. */
  apiUrl?: string;
  /** The chatops process's SSH key: chat approvals are signed with it (an allowed signer). */
  signWith?: string;
  webUiBase?: string;
  /** How often tracked rollbacks' messages are refreshed. */
  pollMs?: number;
  log?: (line: string) => void;
}

interface Tracked {
  ref: ButtonValue & { webUrl?: string };
  channel: string;
  ts: string;
  plan?: Pick<Plan, 'approval'>;
  shown?: string;
  /** Steps whose end was told in the thread. */
  told: Set<string>;
}

class ChatError extends Error {}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function createChatOps(o: ChatOpsOptions) {
  const log = o.log ?? (() => undefined);
  const seen = new Map<string, number>();
  const tracked = new Map<string, Tracked>();
  const clientOptions = o.apiUrl ? { slackApiUrl: o.apiUrl } : {};
  // Socket Mode: requests come over the socket the app token opened (no signature to check; a
  // redelivered envelope id is the replay). HTTP: Bolt checks each request's signature and age.
  const socket = o.appToken
    ? new SocketModeReceiver({
        appToken: o.appToken,
        logLevel: LogLevel.ERROR,
        installerOptions: { clientOptions },
        customPropertiesExtractor: (args: { envelope_id?: string }) => ({
          slackSignature: args.envelope_id ? `envelope:${args.envelope_id}` : '',
        }),
      })
    : undefined;
  if (!socket && !o.signingSecret)
    throw new Error('HTTP mode needs the signing secret (or give an app token for Socket Mode)');
  const http = socket
    ? undefined
    : new ExpressReceiver({
        signingSecret: o.signingSecret!,
        logLevel: LogLevel.ERROR,
        customPropertiesExtractor: (req) => ({
          slackSignature: String(req.headers['x-slack-signature'] ?? ''),
        }),
      });
  const receiver = socket ?? http!;
  const app = new App({
    token: o.botToken,
    receiver,
    // Offline-safe: Bolt would otherwise ask Slack (auth.test) who it is before acknowledging.
    botId: 'B0ROLLBACK',
    botUserId: 'U0ROLLBACK',
    logLevel: LogLevel.ERROR,
    clientOptions,
  });
  const web: WebClient = app.client;
  const load = (): LoadedConfig => loadConfig(o.configFile);

  // A request Slack sent once is acted on once: a replay (same signature) is acknowledged, not run.
  app.use(async (args) => {
    const { context, next } = args;
    const signature = String((context as { slackSignature?: string }).slackSignature ?? '');
    const now = Date.now();
    for (const [sig, until] of seen) if (until < now) seen.delete(sig);
    if (signature && seen.has(signature)) {
      log('a replayed request (a signature seen before) was dropped');
      const ack = (args as { ack?: () => Promise<void> }).ack;
      if (ack) await ack();
      return;
    }
    if (signature) seen.set(signature, now + 10 * 60_000);
    await next();
  });

  const personOf = (loaded: LoadedConfig, user: string): string => {
    const name = loaded.config.identities.slack[user];
    if (!name) {
      throw new ChatError(
        `your Slack user ${user} is not mapped to a person in ${loaded.file}; ask whoever keeps it to add approvers: [{ name: YOU, slack: ${user} }]`,
      );
    }
    return name;
  };

  const ephemeral = (channel: string, user: string, text: string) =>
    web.chat
      .postEphemeral({ channel, user, text })
      .catch((err) => log(`ephemeral reply failed: ${errorText(err)}`));

  async function refresh(t: Tracked): Promise<void> {
    const record: RollbackRecord = await o.client.progress(t.ref.workflowId, t.ref.runId, 5000);
    const message = rollbackMessage(record, t.ref, t.plan);
    const shown = JSON.stringify(message.blocks);
    if (shown !== t.shown) {
      await web.chat.update({
        channel: t.channel,
        ts: t.ts,
        text: message.text,
        blocks: message.blocks as never,
      });
      t.shown = shown;
    }
    for (const s of record.steps) {
      if ((s.state === 'succeeded' || s.state === 'failed' || s.state === 'skipped') && !t.told.has(s.id)) {
        t.told.add(s.id);
        const detail = s.state === 'failed' ? s.lastError : s.summary;
        await web.chat.postMessage({
          channel: t.channel,
          thread_ts: t.ts,
          text: `${s.state === 'failed' ? ':x:' : s.state === 'skipped' ? ':fast_forward:' : ':heavy_check_mark:'} ${esc(s.title)}${detail ? ` — ${esc(detail.slice(0, 500))}` : ''}`,
        });
      }
    }
    if (ENDED.has(record.status)) tracked.delete(key(t.ref));
  }

  const key = (ref: ButtonValue) => `${ref.workflowId}/${ref.runId}`;
  const track = (t: Omit<Tracked, 'told'>) => {
    const existing = tracked.get(key(t.ref));
    const entry = existing ?? { ...t, told: new Set<string>() };
    tracked.set(key(t.ref), entry);
    return entry;
  };

  const timer = setInterval(() => {
    for (const t of tracked.values())
      refresh(t).catch((err) => log(`refreshing ${t.ref.workflowId}: ${errorText(err)}`));
  }, o.pollMs ?? 2000);
  timer.unref();

  async function start(
    cmd: Extract<ChatCommand, { verb: 'start' | 'plan' }>,
    command: SlashCommand,
  ): Promise<void> {
    const loaded = load();
    const by = personOf(loaded, command.user_id);
    const now = new Date();
    const request: RollbackRequest = {
      rollbackId: newRollbackId(cmd.target, now),
      target: cmd.target,
      kind: cmd.kind,
      toVersion: cmd.to,
      reason: cmd.reason || '(plan only)',
      requestedBy: by,
      requestedAt: now.toISOString(),
      commits: cmd.commits,
      ...(o.webUiBase ? { webUiBase: o.webUiBase } : {}),
    };
    const target = getTarget(loaded, cmd.target);
    const plan = planRollback(target, request, loaded.config);
    const problems = checkTargetPaths(cmd.target, target);
    if (problems.length) throw new ChatError(problems.join('\n'));
    if (cmd.verb === 'plan') {
      await ephemeral(command.channel_id, command.user_id, `\`\`\`${formatPlan(plan)}\`\`\``);
      return;
    }
    if (!(await o.client.workerPresence()).polling) {
      throw new ChatError(
        `no worker polls task queue "${o.client.taskQueue}": nothing would run it, so it was not started`,
      );
    }
    const started = await o.client.startChecked(request, plan);
    const record = await o.client.progress(started.workflowId, started.runId, 5000);
    const ref = { workflowId: started.workflowId, runId: started.runId, webUrl: started.webUrl };
    const message = rollbackMessage(record, ref, plan);
    const posted = await web.chat.postMessage({
      channel: command.channel_id,
      text: message.text,
      blocks: message.blocks as never,
    });
    const t = track({
      ref,
      channel: posted.channel ?? command.channel_id,
      ts: posted.ts!,
      plan,
      shown: JSON.stringify(message.blocks),
    });
    log(`${by} started ${started.workflowId} from Slack`);
    await refresh(t).catch(() => undefined);
  }

  async function status(id: string | undefined, command: SlashCommand): Promise<void> {
    if (!id) {
      const rows = await o.client.list({ limit: 10 });
      const text = rows.length
        ? rows.map((r) => `• ${esc(r.workflowId)}: ${esc(String(r.status))}`).join('\n')
        : 'no rollbacks yet';
      await ephemeral(command.channel_id, command.user_id, text);
      return;
    }
    const desc = await o.client.describe(id);
    const record = await o.client.progress(id, desc.runId, 5000);
    await ephemeral(
      command.channel_id,
      command.user_id,
      rollbackMessage(record, { workflowId: id, runId: desc.runId }).text,
    );
  }

  async function cancel(id: string, command: SlashCommand): Promise<void> {
    const loaded = load();
    const by = personOf(loaded, command.user_id);
    const desc = await o.client.describe(id);
    const record = await o.client.progress(id, desc.runId, 5000);
    if (ENDED.has(record.status)) throw new ChatError(`${id} has already ended (${record.status})`);
    const target = loaded.config.targets[record.target] as
      { approval?: { approvers?: string[] } } | undefined;
    const may = [...loaded.config.approvers, ...(target?.approval?.approvers ?? []), record.requestedBy];
    if (!may.includes(by))
      throw new ChatError(`${by} may not cancel ${id}: its requester or an approver may`);
    await o.client.cancel(id);
    await ephemeral(command.channel_id, command.user_id, `cancelling ${esc(id)}: it undoes what it did`);
  }

  app.command('/rollback', async ({ command, ack }) => {
    await ack();
    try {
      const cmd = parseChatCommand(command.text ?? '');
      if (cmd.verb === 'help') await ephemeral(command.channel_id, command.user_id, CHAT_USAGE);
      else if (cmd.verb === 'status') await status(cmd.id, command);
      else if (cmd.verb === 'cancel') await cancel(cmd.id, command);
      else await start(cmd, command);
    } catch (err) {
      await ephemeral(command.channel_id, command.user_id, `:warning: ${esc(errorText(err))}`);
    }
  });

  /** The button's rollback, if it is still the one running under its workflow id. */
  async function current(value: ButtonValue): Promise<RollbackRecord> {
    const desc = await o.client.describe(value.workflowId).catch(() => {
      throw new ChatError(`there is no rollback ${value.workflowId}`);
    });
    if (desc.runId !== value.runId) {
      throw new ChatError(
        `that rollback has ended; ${value.workflowId} is now another rollback (this button is for an earlier one)`,
      );
    }
    const record = await o.client.progress(value.workflowId, value.runId, 5000);
    if (ENDED.has(record.status)) throw new ChatError(`that rollback has already ended (${record.status})`);
    return record;
  }

  async function act(
    value: ButtonValue,
    action: 'approve' | 'reject' | 'decide',
    by: string,
    extra: { comment?: string; decision?: Decision } = {},
  ): Promise<void> {
    const signed = o.signWith
      ? signAction(o.signWith, {
          workflowId: value.workflowId,
          runId: value.runId,
          action,
          by,
          stepId: value.stepId,
          decision: extra.decision,
          comment: extra.comment,
          channel: 'slack',
        })
      : {};
    await o.client.act(value.workflowId, action, {
      by,
      comment: extra.comment,
      decision: extra.decision,
      stepId: value.stepId,
      channel: 'slack',
      ...signed,
    });
  }

  function parseValue(raw: unknown): ButtonValue {
    try {
      const v = JSON.parse(String(raw)) as ButtonValue;
      if (typeof v.workflowId === 'string' && typeof v.runId === 'string') return v;
    } catch {
      /* below */
    }
    throw new ChatError('this button carries no rollback; use /rollback status');
  }

  interface ButtonBody {
    user: { id: string };
    channel?: { id: string };
    message?: { ts: string };
    trigger_id?: string;
  }

  async function onButton(
    body: ButtonBody,
    rawValue: unknown,
    run: (value: ButtonValue, by: string) => Promise<void>,
  ): Promise<void> {
    const channel = body.channel?.id ?? '';
    try {
      const value = parseValue(rawValue);
      const by = personOf(load(), body.user.id);
      await current(value);
      if (channel && body.message?.ts) track({ ref: value, channel, ts: body.message.ts });
      await run(value, by);
      const t = tracked.get(key(value));
      if (t) await refresh(t).catch(() => undefined);
    } catch (err) {
      const reason = err instanceof RefusedError ? err.message : errorText(err);
      if (channel) await ephemeral(channel, body.user.id, `:no_entry: ${esc(reason)}`);
      log(`a chat action by ${body.user.id} was refused: ${reason}`);
    }
  }

  app.action(ACTIONS.approve, async ({ ack, body, action }) => {
    await ack();
    await onButton(body as ButtonBody, (action as { value?: string }).value, (v, by) =>
      act(v, 'approve', by),
    );
  });

  app.action(ACTIONS.reject, async ({ ack, body, action }) => {
    await ack();
    const b = body as ButtonBody;
    await onButton(b, (action as { value?: string }).value, async (v) => {
      // Whether they may reject is the workflow's to say, when they submit the reason.
      await web.views.open({
        trigger_id: b.trigger_id!,
        view: rejectModal({ ...v, channel: b.channel?.id, ts: b.message?.ts }) as never,
      });
    });
  });

  app.action(
    new RegExp(`^${ACTIONS.decide}_(retry|skip|compensate|abort)$`),
    async ({ ack, body, action }) => {
      await ack();
      const decision = (action as { action_id: string }).action_id.split('_').pop() as Decision;
      await onButton(body as ButtonBody, (action as { value?: string }).value, (v, by) =>
        act(v, 'decide', by, { decision }),
      );
    },
  );

  app.view(ACTIONS.rejectModal, async ({ ack, body, view }) => {
    const reason = (view.state.values.reason?.reason?.value ?? '').trim();
    if (!reason) {
      await ack({ response_action: 'errors', errors: { reason: 'say why you reject the rollback' } });
      return;
    }
    await ack();
    const meta = JSON.parse(view.private_metadata || '{}') as ButtonValue & { channel?: string; ts?: string };
    await onButton(
      {
        user: body.user,
        channel: meta.channel ? { id: meta.channel } : undefined,
        message: meta.ts ? { ts: meta.ts } : undefined,
      },
      JSON.stringify({ workflowId: meta.workflowId, runId: meta.runId }),
      (v, by) => act(v, 'reject', by, { comment: reason }),
    );
  });

  app.error(async (err) => log(`slack app error: ${errorText(err)}`));

  return {
    app,
    receiver,
    /** HTTP: listens on `port` (0: any free port) and says where. Socket Mode: connects to Slack. */
    async start(port = 0, host = '127.0.0.1'): Promise<{ port?: number }> {
      if (socket) {
        await socket.start();
        return {};
      }
      const server = (await http!.start({ port, host })) as Server;
      const address = server.address();
      return { port: typeof address === 'object' && address ? address.port : port };
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      // Bolt's SocketModeReceiver.stop() does not wait for the close handshake; the client does.
      if (socket) await socket.client.disconnect();
      else await receiver.stop();
    },
  };
}
