import { Metadata, status, type Interceptor } from '@grpc/grpc-js';
import { Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { ConnectionSettings } from './connection';
import { connectFailure, probeAddress, probeFailure } from './probe';

const CONNECT_TIMEOUT_MS = 5000;

/**
 * Connects, and explains a failure in terms of the address: a probe of the address runs beside the
 * gRPC connect, so a port that is closed or that serves something other than Temporal (the Web UI, a
 * plain web server) is named at once instead of after the connect deadline.
 */
export async function openConnection(settings: ConnectionSettings): Promise<Connection> {
  const { address } = settings;
  const connecting = Connection.connect({
    address,
    tls: settings.tls,
    apiKey: settings.apiKey,
    metadata: settings.metadata,
    connectTimeout: CONNECT_TIMEOUT_MS,
    interceptors: [closeSafeRetryInterceptor()],
  });
  const settled = connecting.then(
    (connection) => ({ connection }),
    (error: unknown) => ({ error: error as Error }),
  );
  const probing = probeAddress(address, settings.tls ?? false);
  const first = await Promise.race([settled, probing.then((probe) => ({ probe }))]);
  if ('connection' in first) return first.connection;
  const probe = 'probe' in first ? first.probe : await probing;
  const failure = probeFailure(address, probe);
  if (failure) {
    void connecting.then(
      (c) => c.close(),
      () => undefined,
    );
    throw failure;
  }
  const outcome = await settled;
  if ('connection' in outcome) return outcome.connection;
  throw connectFailure(address, probe, outcome.error, {
    tls: settings.tls ?? false,
    apiKey: Boolean(settings.apiKey),
  });
}

/** What an interceptor's `nextCall` returns (grpc-js does not export the interface's name). */
type InterceptingCallInterface = ReturnType<Parameters<Interceptor>[1]>;

/**
 * The client's gRPC retries (the SDK's default interceptor and options), safe to close under. The
 * SDK retries a failed call (UNAVAILABLE: the server went away) from a timer, and `Connection.close()`
 * leaves that timer set; when it fires, grpc-js throws "Channel has been shut down" out of it, an
 * uncaught exception that ends the process with a stack trace. Here a call that cannot start on a
 * closed channel fails as CANCELLED instead (not retried), and whoever awaits it gets that error.
 */
export function closeSafeRetryInterceptor(): Interceptor {
  const retrying = makeGrpcRetryInterceptor(defaultGrpcRetryOptions());
  return (options, nextCall) => {
    // The first attempt starts here, in the caller's stack: a closed channel throws to the caller,
    // as it always did. Only the retries, started from the SDK's timer, are caught.
    let attempts = 0;
    return retrying(options, (callOptions) => {
      if (attempts++ === 0) return nextCall(callOptions);
      try {
        return nextCall(callOptions);
      } catch (err) {
        return failedCall(`the connection was closed: ${(err as Error).message}`);
      }
    });
  };
}

/** A call that never reached the channel: it ends, as soon as it is started, with CANCELLED. */
function failedCall(details: string): InterceptingCallInterface {
  return {
    start(_metadata, listener) {
      setImmediate(() =>
        listener?.onReceiveStatus?.({ code: status.CANCELLED, details, metadata: new Metadata() }),
      );
    },
    cancelWithStatus: () => undefined,
    getPeer: () => '',
    sendMessageWithContext: () => undefined,
    sendMessage: () => undefined,
    startRead: () => undefined,
    halfClose: () => undefined,
    getAuthContext: () => null,
  };
}
