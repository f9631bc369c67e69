import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Closing the client while a call waits to be retried (the server went away mid-call): the SDK's
 * retry interceptor starts the retry from a timer after the close, and grpc-js throws "Channel has
 * been shut down" out of that timer, an uncaught exception that ends the CLI with a stack trace.
 * Run in a process of its own against the test Temporal server, through a TCP proxy the script cuts.
 */
test('closing the connection while a call waits to be retried: the call fails, nothing is thrown from a timer', () => {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'fixtures', 'close-during-retry.ts')],
    { encoding: 'utf8', timeout: 60_000 },
  );
  expect(r.stdout).not.toMatch(/^uncaught:/m);
  expect(r.stdout).toMatch(/^call failed: .*CANCELLED: the connection was closed/m);
  expect(r.stdout).toMatch(/^call after close failed: .*Channel has been shut down/m);
  expect(r.stdout).toContain('no uncaught error');
  expect(r.status).toBe(0);
}, 90_000);
