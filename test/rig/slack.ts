import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A local stand-in for Slack's Web API: the real WebClient (Bolt's) talks to it through its
 * `slackApiUrl` option. It answers what Slack would for the methods the app calls and records each
 * call (method and decoded arguments). It is a stand-in because Slack itself cannot be reached from
 * here; the app, Bolt and the request signatures are real.
 */
export interface SlackCall {
  method: string;
  args: Record<string, any>;
  /** What the stand-in answered (chat.postMessage: the message's ts). */
  answer: Record<string, any>;
}

export interface SlackApi {
  url: string;
  calls: SlackCall[];
  of(method: string): SlackCall[];
  /** Extra fields the stand-in answers a method with (apps.connections.open: the socket's url). */
  answers: Record<string, Record<string, unknown>>;
  close(): Promise<void>;
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

/** Form fields as the WebClient sends them: nested values (blocks, view) JSON-encoded. */
function decode(text: string, type: string | undefined): Record<string, any> {
  if (type?.includes('application/json')) return JSON.parse(text || '{}') as Record<string, any>;
  const args: Record<string, any> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    try {
      args[k] = /^[[{]/.test(v) ? JSON.parse(v) : v;
    } catch {
      args[k] = v;
    }
  }
  return args;
}

export async function startSlackApi(): Promise<SlackApi> {
  const calls: SlackCall[] = [];
  const answers: Record<string, Record<string, unknown>> = {};
  let ts = 1_700_000_000;
  const server = createServer(async (req, res) => {
    const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0]!;
    const args = decode(await body(req), req.headers['content-type']);
    const answer: Record<string, unknown> = { ok: true };
    calls.push({ method, args, answer });
    if (method === 'chat.postMessage') Object.assign(answer, { channel: args.channel, ts: `${ts++}.000100` });
    if (method === 'chat.update') Object.assign(answer, { channel: args.channel, ts: args.ts });
    if (method === 'chat.postEphemeral') Object.assign(answer, { message_ts: `${ts++}.000200` });
    if (method === 'views.open') Object.assign(answer, { view: { id: 'V0001' } });
    Object.assign(answer, answers[method] ?? {});
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/`,
    calls,
    of: (method) => calls.filter((c) => c.method === method),
    answers,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Slack's request signature: `v0=` HMAC-SHA256 of `v0:TIMESTAMP:BODY` with the signing secret. */
export function slackSignature(secret: string, timestamp: number, raw: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${raw}`).digest('hex')}`;
}

/** POSTs a form body to the app as Slack would, signed (or with the signature and time given). */
export async function postToApp(
  url: string,
  secret: string,
  form: Record<string, string>,
  opts: { timestamp?: number; signature?: string; raw?: string } = {},
): Promise<{ status: number; text: string; signature: string; raw: string; timestamp: number }> {
  const raw = opts.raw ?? new URLSearchParams(form).toString();
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = opts.signature ?? slackSignature(secret, timestamp, raw);
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': signature,
    },
    body: raw,
  });
  return { status: res.status, text: await res.text(), signature, raw, timestamp };
}

/**
 * A stand-in for Slack's Socket Mode endpoint: the URL apps.connections.open hands out. It greets
 * the app (hello), sends it envelopes, and resolves each send with the app's acknowledgement.
 */
export interface SlackSocket {
  url: string;
  connected: Promise<void>;
  send(
    type: 'slash_commands' | 'interactive',
    payload: Record<string, unknown>,
    envelopeId?: string,
  ): Promise<unknown>;
  close(): Promise<void>;
}

export async function startSlackSocket(): Promise<SlackSocket> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const acks = new Map<string, (body: unknown) => void>();
  let socket: WebSocket | undefined;
  const connected = new Promise<void>((resolve) =>
    server.on('connection', (ws) => {
      socket = ws;
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { envelope_id?: string };
        if (msg.envelope_id) acks.get(msg.envelope_id)?.(msg);
      });
      ws.send(
        JSON.stringify({
          type: 'hello',
          num_connections: 1,
          connection_info: { app_id: 'A0APP0001' },
          debug_info: { host: 'stand-in' },
        }),
      );
      resolve();
    }),
  );
  let n = 0;
  return {
    url: `ws://127.0.0.1:${port}/`,
    connected,
    send: (type, payload, envelopeId = `env-${++n}-${Date.now()}`) =>
      new Promise((resolve) => {
        acks.set(envelopeId, resolve);
        socket!.send(
          JSON.stringify({
            envelope_id: envelopeId,
            type,
            payload,
            accepts_response_payload: type === 'slash_commands',
          }),
        );
      }),
    close: async () => {
      for (const c of server.clients) c.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
