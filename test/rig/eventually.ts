import { inspect } from 'node:util';

/** Thrown by a probe when what it waits for can no longer happen (the server exited): fail at once. */
export class GiveUp extends Error {
  override name = 'GiveUp';
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

/**
 * The one wait of the tests: calls `probe` until it returns something truthy, and returns that. A
 * probe that throws has not succeeded yet (unless it throws GiveUp). On timeout it fails naming
 * `what` and the last value or error the probe gave, so a red test says what never happened and
 * what was seen instead.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | Promise<T>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<Truthy<Awaited<T>>> {
  const deadline = Date.now() + timeoutMs;
  let last = 'the probe never answered';
  for (;;) {
    const outcome = await settleBefore(deadline, probe);
    if (outcome.kind === 'value') {
      if (outcome.value) return outcome.value as Truthy<Awaited<T>>;
      last = `last value: ${inspect(outcome.value, { depth: 3, breakLength: Infinity })}`;
    } else if (outcome.kind === 'error') {
      if (outcome.error instanceof GiveUp) {
        throw new Error(`gave up waiting for ${what}: ${outcome.error.message}`, { cause: outcome.error });
      }
      last = `last error: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)}`;
    } else {
      last = `the last probe was still running (${last})`;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${last}`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, left)));
  }
}

type Outcome<T> = { kind: 'value'; value: T } | { kind: 'error'; error: unknown } | { kind: 'late' };

/** One probe, given no longer than the time left: a hung probe must not hang the test. */
async function settleBefore<T>(deadline: number, probe: () => T | Promise<T>): Promise<Outcome<Awaited<T>>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Outcome<Awaited<T>>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'late' }), Math.max(0, deadline - Date.now()));
  });
  const settled = (async (): Promise<Outcome<Awaited<T>>> => {
    try {
      return { kind: 'value', value: await probe() };
    } catch (error) {
      return { kind: 'error', error };
    }
  })();
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}
