import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PortInUseError } from '../../src/temporal/dev-server';

/**
 * Ports that must be chosen before the server binds them: a pm2 service's PORT (written into
 * rollback.yaml, and bound again by every restart during a rollback) or the Temporal server's
 * --port. Where a server can bind port 0 and report its port, let it: none of this is needed.
 *
 * - They come from below the kernel's ephemeral range, where other processes' bind(0) and outgoing
 *   connections never land, so a port left free between a stop and a start stays free.
 * - Each is reserved by a lock file every test process on this machine sees, so two suites running
 *   at once never pick the same one; the lock of a process that died is taken over.
 * - Each is checked free by binding it, and whoever starts a server on it retries with a new port
 *   when the bind fails anyway (withFreshPort).
 */

export interface PortReservation {
  port: number;
  release(): void;
}

const LOCK_DIR = join(tmpdir(), 'rollback-test-ports');
const LOWEST = 10_000;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 2000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of `port` for this process; false if a live process holds it. */
function lock(port: number): boolean {
  const file = join(LOCK_DIR, String(port));
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = NaN;
      try {
        holder = Number(readFileSync(file, 'utf8'));
      } catch {
        /* released meanwhile */
      }
      // An empty file is a lock being written this instant: leave it to its writer.
      if (!Number.isInteger(holder) || holder <= 0 || alive(holder)) return false;
      try {
        unlinkSync(file);
      } catch {
        /* another process took it over first */
      }
    }
  }
  return false;
}

function unlock(port: number): void {
  const file = join(LOCK_DIR, String(port));
  try {
    if (Number(readFileSync(file, 'utf8')) === process.pid) unlinkSync(file);
  } catch {
    /* already gone */
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Reserves a free port (and `port + offset` for each of `offsets`, e.g. [1000] for a server that puts
 * its UI there) until `release()`.
 */
export async function reservePort(opts: { offsets?: number[] } = {}): Promise<PortReservation> {
  const offsets = [0, ...(opts.offsets ?? [])];
  const highest = ephemeralLow() - 1 - Math.max(...offsets);
  mkdirSync(LOCK_DIR, { recursive: true });
  for (let candidate = 0; candidate < 200; candidate++) {
    const port = LOWEST + Math.floor(Math.random() * (highest - LOWEST));
    const taken: number[] = [];
    for (const offset of offsets) {
      if (!lock(port + offset)) break;
      taken.push(port + offset);
    }
    if (taken.length === offsets.length) {
      const free = await Promise.all(taken.map(bindable));
      if (free.every(Boolean)) return { port, release: () => taken.forEach(unlock) };
    }
    taken.forEach(unlock);
  }
  throw new Error(`no free port found below ${highest} after 200 tries`);
}

const ATTEMPTS = 5;

/**
 * Starts a server on a reserved port, and on a new one when it reports the port in use
 * (PortInUseError): a port taken between the check and the bind costs an attempt, not the test.
 * The caller releases the reservation once the server is gone.
 */
export async function withFreshPort<T>(
  what: string,
  start: (port: number) => Promise<T>,
  opts: { offsets?: number[] } = {},
): Promise<{ value: T; reservation: PortReservation }> {
  let lastClash: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const reservation = await reservePort(opts);
    try {
      return { value: await start(reservation.port), reservation };
    } catch (err) {
      reservation.release();
      if (!(err instanceof PortInUseError)) throw err;
      lastClash = err;
    }
  }
  throw new Error(`${what}: the port was taken ${ATTEMPTS} times in a row`, { cause: lastClash });
}

/** Whether nothing listens on the port any more (a stopped server let it go). */
export function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}
