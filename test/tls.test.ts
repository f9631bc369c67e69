import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup } from './rig/cleanup';
import { eventually } from './rig/eventually';
import { ROOT, runCli } from './rig/rollback';
import { testTaskQueue } from './rig/temporal';
import {
  expectDoctorOk,
  expectTlsRefusals,
  makeCerts,
  startTlsProxy,
  tlsClientEnv,
  type TestCerts,
} from './rig/tls-proxy';
import { activityPollers, killHard } from './rig/worker-process';

/**
 * Mutual TLS with the Temporal CLI's own settings (TEMPORAL_TLS_*, read by @temporalio/envconfig):
 * the worker and the CLI reach the rig's server only through a real nginx that requires a client
 * certificate of the test's CA (the dev server has no TLS of its own, so TLS ends at the proxy).
 */

const cleanup = new Cleanup();
let certs: TestCerts;
let proxy: Awaited<ReturnType<typeof startTlsProxy>>;

beforeAll(async () => {
  certs = makeCerts();
  cleanup.add('the certificates', () => rmSync(certs.dir, { recursive: true, force: true }));
  proxy = await startTlsProxy(process.env.TEMPORAL_ADDRESS!, certs);
  cleanup.add('the TLS proxy', () => proxy.stop());
});
afterAll(() => cleanup.run());

const tlsEnv = (overrides: Record<string, string | undefined> = {}) =>
  tlsClientEnv(proxy.address, certs, overrides);

test('the worker and the CLI connect with a client certificate; doctor sees the worker through TLS', async () => {
  const queue = testTaskQueue('tls');
  const env: NodeJS.ProcessEnv = { ...process.env, ...tlsEnv(), ROLLBACK_CONFIG: undefined };
  const worker: ChildProcess = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'rollback.js'), 'worker', '--task-queue', queue],
    {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  cleanup.add('the TLS worker', () => killHard(worker));
  let stderr = '';
  worker.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // The server sees the worker's polls (they came through the proxy: the worker knows no other address).
  await eventually(
    'the worker polls through TLS',
    async () => {
      if (worker.exitCode !== null) throw new Error(`the worker exited: ${stderr}`);
      return (await activityPollers(process.env.TEMPORAL_ADDRESS!, queue, 'default')).some((id) =>
        id.startsWith(`${worker.pid}@`),
      );
    },
    60_000,
    250,
  );

  const list = await runCli(['list', '--json'], tlsEnv());
  expect(list.code).toBe(0);
  expect(Array.isArray(JSON.parse(list.stdout))).toBe(true);
  await expectDoctorOk(queue, tlsEnv());
});

test('a server certificate from another CA, or no client certificate: refused with a clear error, nothing done', async () => {
  await expectTlsRefusals(proxy.address, certs, tlsEnv());

  const missingFile = await runCli(
    ['list'],
    tlsEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: join(certs.dir, 'nope.pem') }),
  );
  expect(missingFile.code).toBe(2);
  expect(missingFile.stderr).toContain('nope.pem');
});
