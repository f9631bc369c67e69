import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ConfigError } from '../targets/errors';

/**
 * What a server address turned out to be, found in one round trip: the gRPC client only says
 * "failed to connect before the deadline", after the whole deadline, whatever the reason.
 */
export type AddressProbe =
  | { verdict: 'http2' } // speaks HTTP/2, as a gRPC server does: let the client decide the rest
  | { verdict: 'silent' } // accepted the connection and said nothing in time
  | {
      verdict: 'refused' | 'unresolved' | 'unreachable' | 'not-grpc' | 'no-tls' | 'tls-failed';
      detail: string;
    };

const PROBE_MS = 2000;
// The HTTP/2 connection preface and an empty SETTINGS frame: an HTTP/2 server answers with its SETTINGS.
const PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** What the first bytes a server sent back say about it. */
function readAnswer(first: Buffer | undefined): AddressProbe {
  if (!first || first.length === 0) return { verdict: 'not-grpc', detail: 'it closed the connection' };
  if (first.length >= 9 && first[3] === 0x04) return { verdict: 'http2' };
  const text = first.subarray(0, 16).toString('latin1');
  if (text.startsWith('HTTP/') || /^\s*</.test(text))
    return { verdict: 'not-grpc', detail: 'it answered as an HTTP/1 web server' };
  if (first[0] === 0x15 || first[0] === 0x16)
    return { verdict: 'not-grpc', detail: 'it expects TLS: set TEMPORAL_TLS=true or use a profile with TLS' };
  return { verdict: 'not-grpc', detail: 'it answered in a protocol other than HTTP/2' };
}

function connectError(err: NodeJS.ErrnoException): AddressProbe {
  if (err.code === 'ECONNREFUSED') return { verdict: 'refused', detail: 'connection refused' };
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN')
    return { verdict: 'unresolved', detail: `the host name does not resolve (${err.code})` };
  return { verdict: 'unreachable', detail: err.message };
}

/** Connects once to `address` and reads what comes back; never throws, never takes much over 2 s. */
export function probeAddress(address: string, tls: boolean): Promise<AddressProbe> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve) => {
    let socket: Socket;
    let settled = false;
    let connected = false;
    const finish = (probe: AddressProbe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(probe);
    };
    const timer = setTimeout(
      () => finish(connected ? { verdict: 'silent' } : { verdict: 'unreachable', detail: 'no answer' }),
      PROBE_MS,
    );
    timer.unref();
    if (tls) {
      socket = tlsConnect({
        host,
        port,
        servername: /^[\d.:]+$/.test(host) ? undefined : host,
        ALPNProtocols: ['h2', 'http/1.1'],
        // Only the protocol is probed here; the gRPC client checks the certificate.
        rejectUnauthorized: false,
      });
      socket.once('connect', () => (connected = true));
      socket.once('secureConnect', () => {
        const alpn = (socket as TLSSocket).alpnProtocol;
        finish(
          alpn === 'h2'
            ? { verdict: 'http2' }
            : {
                verdict: 'not-grpc',
                detail: `its TLS server does not offer HTTP/2 (ALPN: ${alpn || 'none'})`,
              },
        );
      });
    } else {
      socket = tcpConnect({ host, port });
      socket.once('connect', () => {
        connected = true;
        socket.write(PREFACE);
      });
      socket.once('data', (chunk: Buffer) => finish(readAnswer(chunk)));
      socket.once('end', () => finish(readAnswer(undefined)));
    }
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected) finish(connectError(err));
      else if (!tls) finish(readAnswer(undefined));
      // A plaintext server answers a TLS hello with bytes that are no TLS record.
      else if (/wrong version number|packet length too long|unknown protocol/i.test(err.message))
        finish({ verdict: 'no-tls', detail: err.message });
      else finish({ verdict: 'tls-failed', detail: err.message });
    });
  });
}

const FIX = 'give the Temporal frontend with --address, TEMPORAL_ADDRESS or a profile (TEMPORAL_PROFILE)';

/**
 * The error for a probe that settles the matter on its own (nothing listens, the host does not
 * resolve, the server is not gRPC, it does not speak TLS), or undefined: then the gRPC connect decides.
 * A server that is not Temporal is a wrong address (exit 2); a closed port may be a server that is down.
 */
export function probeFailure(address: string, probe: AddressProbe): Error | undefined {
  switch (probe.verdict) {
    case 'refused':
    case 'unresolved':
      return new Error(
        `cannot reach ${address}: ${probe.detail}; start a server with "rollback dev", or ${FIX}`,
      );
    case 'not-grpc':
      return new ConfigError(
        `${address} accepts connections but is not a Temporal frontend: ${probe.detail} (the Web UI's port, or another service?); ${FIX}`,
      );
    case 'no-tls':
      return new ConfigError(
        `${address} does not speak TLS, but TLS is on for it (an API key, TEMPORAL_TLS or the profile's tls settings turn it on): ${probe.detail}`,
      );
    default:
      return undefined;
  }
}

/** The error for a connect that failed after an inconclusive probe, with what the probe saw. */
export function connectFailure(address: string, probe: AddressProbe, err: Error): Error {
  const why =
    probe.verdict === 'silent'
      ? 'it accepted a connection but never answered'
      : probe.verdict === 'tls-failed'
        ? `the TLS handshake failed: ${probe.detail}`
        : err.message;
  return new Error(
    `cannot connect to a Temporal server at ${address} (${why}); start one with "rollback dev", or ${FIX}`,
    {
      cause: err,
    },
  );
}
