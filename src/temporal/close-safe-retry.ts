import { Metadata, status, type Interceptor } from '@grpc/grpc-js';
import { defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';

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
  return (options, nextCall) =>
    retrying(options, (callOptions) => {
      try {
        return nextCall(callOptions);
      } catch (err) {
        return failedCall(`the connection was closed: ${(err as Error).message}`);
      }
    });
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
