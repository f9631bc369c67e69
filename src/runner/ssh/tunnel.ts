import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable, type Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { Client } from 'ssh2';

/**
 * HTTP as the far host sees it: each request goes through a `direct-tcpip` channel of the open SSH
 * connection, which sshd connects on the host. So `http://127.0.0.1:8080/health` is the service's
 * own loopback, behind whatever firewall keeps it from the orchestrator. HTTPS is verified as usual
 * (the tunnel carries TLS end to end). One channel per request: a check measures the service, plus
 * one channel open on a connection that is already up.
 */
export function tunnelFetch(conn: Client, where: string): typeof fetch {
  const open = (host: string, port: number) =>
    new Promise<Duplex>((resolve, reject) =>
      conn.forwardOut('127.0.0.1', 0, host, port, (err, channel) =>
        err
          ? reject(
              new Error(
                `${where} did not open a connection to ${host}:${port} (${err.message}); if the service listens there, ` +
                  `allow TCP forwarding for this login (sshd AllowTcpForwarding), or check from the orchestrator (from: orchestrator)`,
              ),
            )
          : resolve(channel),
      ),
    );

  return async (input, init = {}) => {
    const req0 = input instanceof Request ? input : undefined;
    const url = new URL(req0 ? req0.url : String(input));
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') throw new Error(`cannot fetch ${url.protocol} URLs through SSH`);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || (secure ? 443 : 80));
    const method = (init.method ?? req0?.method ?? 'GET').toUpperCase();
    const headers = new Headers(init.headers ?? req0?.headers);
    const rawBody = init.body ?? (req0?.body ? await req0.arrayBuffer() : undefined);
    const body = rawBody == null ? undefined : Buffer.from(await new Response(rawBody).arrayBuffer());
    const signal = init.signal ?? req0?.signal ?? undefined;
    signal?.throwIfAborted();

    return new Promise<Response>((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(
        url,
        {
          method,
          headers: Object.fromEntries(headers),
          signal,
          // No agent (not even `agent: false`, which means a fresh default agent): Node then
          // opens the request's connection with this function, and only with it.
          createConnection: (_opts: unknown, done: (err: Error | null, socket?: Duplex) => void) => {
            open(host, port).then(
              (channel) => done(null, secure ? tlsConnect({ socket: channel, servername: host }) : channel),
              (err: Error) => done(err),
            );
            return undefined;
          },
        } as Parameters<typeof httpRequest>[1],
        (res: IncomingMessage) => resolve(toResponse(res, method)),
      );
      req.once('error', reject);
      req.end(body);
    });
  };
}

function toResponse(res: IncomingMessage, method: string): Response {
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
    headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  const status = res.statusCode ?? 502;
  const empty = method === 'HEAD' || [204, 205, 304].includes(status);
  if (empty) res.resume();
  return new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
    status,
    statusText: res.statusMessage,
    headers,
  });
}
