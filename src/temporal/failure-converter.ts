import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Loaded by path (`failureConverterPath`) in the worker, its workflow sandbox and the clients when
 * payloads are encrypted: failures' messages and stack traces travel in an encoded payload, so the
 * codec encrypts them like every other payload. No I/O: it also runs inside the workflow sandbox.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
