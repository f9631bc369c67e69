import { connect as tcpConnect, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { ConfigError } from '../targets/errors';

/**
 * What a server address turned out to be, found in one round trip: the gRPC client only says
 * "failed to connect before the deadline", after the whole deadline, whatever the reason.
 */
export type AddressProbe =
  | { verdict: 'http2' } // speaks HTTP/2, as a gRPC server does: let the client decide the rest
  | { verdict: 'silent' } // accepted the connection and said nothing in time
  | {
      verdict:
        | 'refused'
        | 'unresolved'
        | 'unreachable'
        | 'not-grpc'
        | 'no-tls'
        | 'needs-tls'
        | 'tls-failed'
        | 'tls-untrusted';
      detail: string;
    };

const PROBE_MS = 2000;
const CLOSED = 'it closed the connection';
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
  if (!first || first.length === 0) return { verdict: 'not-grpc', detail: CLOSED };
  if (first.length >= 9 && first[3] === 0x04) return { verdict: 'http2' };
  const text = first.subarray(0, 16).toString('latin1');
  if (text.startsWith('HTTP/') || /^\s*</.test(text))
    return { verdict: 'not-grpc', detail: 'it answered as an HTTP/1 web server' };
  if (first[0] === 0x15 || first[0] === 0x16)
    return { verdict: 'needs-tls', detail: 'it answered with a TLS record' };
  return { verdict: 'not-grpc', detail: 'it answered in a protocol other than HTTP/2' };
}

function connectError(err: NodeJS.ErrnoException): AddressProbe {
  if (err.code === 'ECONNREFUSED') return { verdict: 'refused', detail: 'connection refused' };
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN')
    return { verdict: 'unresolved', detail: `the host name does not resolve (${err.code})` };
  return { verdict: 'unreachable', detail: err.message };
}

/** The TLS settings the gRPC client will use, as far as the probe needs them. */
export interface ProbeTls {
  serverNameOverride?: string;
  serverRootCACertificate?: Uint8Array;
  clientCertPair?: { crt: Uint8Array; key: Uint8Array };
}

/** Node's codes for a server certificate that does not verify (the CA, the name, the dates). */
const UNTRUSTED =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE)$/;

/**
 * Connects to `address` and reads what comes back; never throws, never takes much over 4 s.
 * With TLS settings it verifies the server's certificate as the gRPC client will (its CA, the
 * server name), and presents the client certificate, so a certificate problem is named at once.
 * Without TLS, a server that hangs up on the plaintext preface is asked again with a TLS hello:
 * a gRPC server with TLS (the Temporal server's, say) hangs up on plaintext without a word.
 */
export async function probeAddress(address: string, tls: boolean | ProbeTls): Promise<AddressProbe> {
  const probe = await probeOnce(address, tls);
  if (tls || probe.verdict !== 'not-grpc' || probe.detail !== CLOSED) return probe;
  const again = await probeOnce(address, true);
  const speaksTls =
    again.verdict === 'http2' ||
    again.verdict === 'tls-failed' ||
    again.verdict === 'tls-untrusted' ||
    (again.verdict === 'not-grpc' && again.detail.startsWith('its TLS server'));
  return speaksTls
    ? { verdict: 'needs-tls', detail: 'it closed a plaintext connection and completed a TLS handshake' }
    : probe;
}

function probeOnce(address: string, tls: boolean | ProbeTls): Promise<AddressProbe> {
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
      const settings = typeof tls === 'object' ? tls : undefined;
      const name = settings?.serverNameOverride ?? (/^[\d.:]+$/.test(host) ? undefined : host);
      socket = tlsConnect({
        host,
        port,
        servername: name,
        ALPNProtocols: ['h2', 'http/1.1'],
        ...(settings
          ? {
              ...(settings.serverRootCACertificate
                ? { ca: Buffer.from(settings.serverRootCACertificate) }
                : {}),
              ...(settings.clientCertPair
                ? {
                    cert: Buffer.from(settings.clientCertPair.crt),
                    key: Buffer.from(settings.clientCertPair.key),
                  }
                : {}),
              rejectUnauthorized: true,
              // The name the gRPC client checks the certificate against (an IP address too).
              checkServerIdentity: (_host: string, cert: PeerCertificate) =>
                checkServerIdentity(settings.serverNameOverride ?? host, cert),
            }
          : { rejectUnauthorized: false }),
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
      else if (UNTRUSTED.test(err.code ?? '')) finish({ verdict: 'tls-untrusted', detail: err.message });
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
    case 'tls-untrusted':
      return new ConfigError(
        `the server at ${address} has a certificate this client does not trust: ${probe.detail}; ` +
          "give the CA that signed it (TEMPORAL_TLS_SERVER_CA_CERT_PATH, or the profile's tls.server_ca_cert_path) " +
          "and the name in it (TEMPORAL_TLS_SERVER_NAME) when that is not the address's host",
      );
    case 'needs-tls':
      return new ConfigError(
        `${address} speaks TLS, and this client connects without it (${probe.detail}): set TEMPORAL_TLS=true, ` +
          'with TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH if the server requires a client certificate ' +
          '(or use a profile with tls settings, TEMPORAL_PROFILE)',
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
export function connectFailure(
  address: string,
  probe: AddressProbe,
  err: Error,
  auth: { tls: boolean | ProbeTls; apiKey?: boolean } = { tls: false },
): Error {
  // A TLS server that wants a client certificate (mTLS) ends the connection after the handshake.
  const mtlsHint =
    auth.tls && !auth.apiKey && !(typeof auth.tls === 'object' && auth.tls.clientCertPair)
      ? "; if the server requires a client certificate, give it with TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH (or the profile's tls settings)"
      : '';
  const why =
    probe.verdict === 'silent'
      ? 'it accepted a connection but never answered'
      : probe.verdict === 'tls-failed'
        ? `the TLS handshake failed: ${probe.detail}`
        : err.message;
  return new Error(
    `cannot connect to a Temporal server at ${address} (${why}); start one with "rollback dev", or ${FIX}${mtlsHint}`,
    {
      cause: err,
    },
  );
}
