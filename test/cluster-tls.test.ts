import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { Cleanup } from './rig/cleanup';
import { clientTls, startCluster, type TestCluster } from './rig/cluster';
import { commandTarget } from './rig/configs';
import { runCli } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';
import { testTaskQueue } from './rig/temporal';
import { expectDoctorOk, expectTlsRefusals, makeCerts, tlsClientEnv, type TestCerts } from './rig/tls-proxy';
import { spawnFakeWorker } from './rig/worker-process';

/**
 * Mutual TLS on the real Temporal server (v1.32.1 on PostgreSQL, test/rig/cluster.ts): its
 * frontend has the test CA's server certificate and requires a client certificate of that CA. The
 * worker and the CLI connect with the Temporal CLI's own variables (TEMPORAL_TLS_*, read by
 * @temporalio/envconfig). The steps are fakes (as in the cluster suite); the workflows, the
 * worker, the CLI, TLS and Temporal are real.
 */

const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-cluster-tls-'));
let certs: TestCerts;
let cluster: TestCluster;

beforeAll(async () => {
  cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));
  certs = makeCerts();
  cleanup.add('the certificates', () => rmSync(certs.dir, { recursive: true, force: true }));
  cluster = await startCluster({ tls: certs });
  cleanup.add('the cluster', () => cluster.stop());
}, 30 * 60_000);

afterAll(() => cleanup.run());

const tlsEnv = (overrides: Record<string, string | undefined> = {}) =>
  tlsClientEnv(cluster.address, certs, {
    TEMPORAL_NAMESPACE: cluster.namespace,
    ROLLBACK_CONFIG: undefined,
    ...overrides,
  });

test('the worker and the CLI reach the real server over mutual TLS: a rollback runs to success, doctor sees it all', async () => {
  const queue = testTaskQueue('cluster-tls');
  // The rig's own view of the server, with the test's client certificate.
  const connection = await Connection.connect({ address: cluster.address, tls: clientTls(certs) });
  cleanup.add('the rig connection', () => connection.close());
  const worker = await spawnFakeWorker({
    address: cluster.address,
    namespace: cluster.namespace,
    taskQueue: queue,
    env: tlsEnv() as Record<string, string>,
    connection,
  });
  cleanup.add('the TLS worker', worker.dispose);

  const deployPath = join(root, 'srv');
  mkdirSync(deployPath);
  spawnSync('git', ['init', '-q', deployPath]);
  const config = join(root, 'rollback.yaml');
  writeFileSync(
    config,
    stringify({ version: 1, targets: { 'tls-target': commandTarget('tls-target', deployPath, root) } }),
  );
  const start = await runCli(
    [
      '--config',
      config,
      'start',
      'emergency',
      '--target',
      'tls-target',
      '--reason',
      'v1.20.2 fails (TLS suite)',
      '--as',
      'alice',
      '--task-queue',
      queue,
      '--wait',
    ],
    tlsEnv(),
  );
  expect(start.stderr + start.stdout).toContain('Rollback succeeded.');
  expect(start.code).toBe(0);

  const status = await runCli(['status', 'rollback-tls-target', '--json'], tlsEnv());
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({
    workflowStatus: 'COMPLETED',
    record: { status: 'succeeded', requestedBy: 'alice' },
  });

  const checks = await expectDoctorOk(queue, tlsEnv());
  // The real server's version, not the dev server's.
  expect(checks.find((c) => c.name === 'reachable')!.detail).toContain('1.32.1');
});

test('the wrong CA, no client certificate, or no TLS at all: each refused with a message naming the fix, nothing started', async () => {
  // The server itself refuses a client without a certificate of its CA (requireClientAuth).
  await expectTlsRefusals(cluster.address, certs, tlsEnv());

  const plain = await runCli(['list'], {
    TEMPORAL_ADDRESS: cluster.address,
    TEMPORAL_TLS_CLIENT_CERT_PATH: undefined,
    TEMPORAL_TLS_CLIENT_KEY_PATH: undefined,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: undefined,
    TEMPORAL_TLS_SERVER_NAME: undefined,
    TEMPORAL_TLS: undefined,
  });
  expect(plain.code).toBe(2);
  expect(plain.stderr).toContain(`${cluster.address} speaks TLS, and this client connects without it`);
  expect(plain.stderr).toContain('TEMPORAL_TLS=true');
  expect(plain.stderr).not.toMatch(/^\s+at /m);
});
