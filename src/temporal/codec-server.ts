import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';

/**
 * A remote codec for the Temporal Web UI and CLI (`rollback codec-server`): POST /encode and
 * /decode take `{ payloads: [{ metadata: { k: base64 }, data: base64 }] }` and answer the same, so
 * operators read encrypted histories in their browser while the server's database holds none of
 * the keys. CORS answers only the origins it is given (the Web UI's); with a token, every request
 * but the CORS preflight carries `Authorization: Bearer TOKEN`.
 */

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Browser origins allowed to call it, e.g. http://localhost:8233 (the Web UI). */
  origins: string[];
  token?: string;
  log?: (line: string) => void;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const MAX_BODY = 16 * 1024 * 1024;

function toPayload(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
    ),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function fromPayload(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? []).toString('base64'),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`body over ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createCodecServer(opts: CodecServerOptions) {
  const log = opts.log ?? (() => undefined);
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const origin = req.headers.origin;
    if (origin && opts.origins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Vary', 'Origin');
    }
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'OPTIONS')
      return res.writeHead(origin && opts.origins.includes(origin) ? 204 : 403).end();
    if (req.method === 'GET' && path === '/health') return send(200, { ok: true });
    if (req.method !== 'POST' || (path !== '/encode' && path !== '/decode'))
      return send(404, { error: 'POST /encode or /decode' });
    if (opts.token) {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ') || !sameToken(auth.slice('Bearer '.length), opts.token)) {
        log(`${path}: refused (no valid bearer token)`);
        return send(401, { error: 'a bearer token is required' });
      }
    }
    let payloads: Payload[];
    try {
      const body = JSON.parse(await readBody(req)) as { payloads?: JsonPayload[] };
      if (!Array.isArray(body.payloads)) return send(400, { error: 'the body is not { "payloads": [...] }' });
      payloads = body.payloads.map(toPayload);
    } catch (err) {
      return send(400, { error: `the body is not JSON: ${(err as Error).message}` });
    }
    try {
      const out = path === '/encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
      return send(200, { payloads: out.map(fromPayload) });
    } catch (err) {
      log(`${path}: ${(err as Error).message}`);
      return send(400, { error: (err as Error).message });
    }
  };
  let server: Server | undefined;
  return {
    async start(port: number, host = '127.0.0.1'): Promise<{ port: number }> {
      server = createServer((req, res) => {
        handle(req, res).catch((err: unknown) => {
          if (!res.headersSent) res.writeHead(500).end(String((err as Error).message));
        });
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, host, () => resolve());
      });
      return { port: (server.address() as AddressInfo).port };
    },
    async stop(): Promise<void> {
      if (!server) return;
      await new Promise((r) => server!.close(r));
      server.closeAllConnections();
    },
  };
}
