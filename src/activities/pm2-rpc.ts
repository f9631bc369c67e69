import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** pm2's own RPC transport (shipped inside pm2; what its CLI uses to talk to the daemon). */
interface AxonReqSocket {
  connect(path: string): unknown;
  close(): void;
  once(event: 'connect', fn: () => void): void;
  on(event: 'socket error', fn: (err: Error) => void): void;
}
interface AxonRpcClient {
  call(method: string, arg: unknown, cb: (err: Error | null, result: unknown) => void): void;
}

/** The PM2_HOME a pm2 command on this machine would use: the service's, the worker's, or ~/.pm2. */
export function localPm2Home(pm2Home?: string): string {
  return pm2Home ?? process.env.PM2_HOME ?? join(homedir(), '.pm2');
}

/** What the daemon answered a call: its error, or its result. */
export type Pm2Answer = { err: Error | null; result: unknown };

/**
 * One call of the daemon's RPC method over its socket PM2_HOME/rpc.sock (what pm2's CLI does after
 * its Node start-up). `undefined` when no daemon answers within `timeoutMs` (no socket, a stale
 * one, a hung daemon): the caller then uses the CLI, which also starts the daemon.
 */
export function pm2Call(
  pm2Home: string,
  method: string,
  arg: unknown,
  timeoutMs: number,
): Promise<Pm2Answer | undefined> {
  const socketPath = join(pm2Home, 'rpc.sock');
  if (!existsSync(socketPath)) return Promise.resolve(undefined);
  /* eslint-disable @typescript-eslint/no-require-imports -- pm2's vendored modules have no types */
  const axon = require('pm2/modules/pm2-axon') as { socket(type: 'req'): AxonReqSocket };
  const rpc = require('pm2/modules/pm2-axon-rpc') as {
    Client: new (sock: AxonReqSocket) => AxonRpcClient;
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
  return new Promise((resolve) => {
    const sock = axon.socket('req');
    const client = new rpc.Client(sock);
    let settled = false;
    const finish = (answer: Pm2Answer | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.close();
      resolve(answer);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    // axon reconnects forever on a refused or missing socket: the first error ends the attempt.
    sock.on('socket error', () => finish(undefined));
    sock.once('connect', () => client.call(method, arg, (err, result) => finish({ err, result })));
    sock.connect(socketPath);
  });
}

/**
 * The daemon's process list (what `pm2 jlist` prints), asked over its socket: a few milliseconds,
 * where `pm2 jlist` is a Node start-up (~190 ms here). Read-only. `undefined` when no daemon answers.
 */
export async function pm2ListOverRpc(pm2Home: string, timeoutMs = 2000): Promise<unknown[] | undefined> {
  const answer = await pm2Call(pm2Home, 'getMonitorData', {}, timeoutMs);
  return answer && !answer.err && Array.isArray(answer.result) ? answer.result : undefined;
}
