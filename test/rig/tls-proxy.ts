import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mainConf, runNginx } from './nginx';
import { runCli } from './rollback';

/**
 * Mutual TLS in front of the dev server (which speaks plain gRPC only): a real nginx terminates
 * TLS on 127.0.0.1, requires a client certificate signed by the test's CA, and passes the gRPC
 * calls on (grpc_pass, HTTP/2). Certificates are made by openssl for each test run.
 */

export interface TestCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here: trusting it instead must fail. */
  otherCa: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'rollback-tls-'));
  const ca = (name: string) => {
    openssl(dir, [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
    ]);
    return join(dir, `${name}.pem`);
  };
  const leaf = (name: string, ext: string) => {
    openssl(dir, [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    ]);
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'test-ca.pem',
      '-CAkey',
      'test-ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    ]);
  };
  const testCa = ca('test-ca');
  const otherCa = ca('other-ca');
  leaf('server', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: testCa,
    otherCa,
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}

export async function startTlsProxy(
  upstream: string,
  certs: TestCerts,
): Promise<{ address: string; stop: () => Promise<void> }> {
  const nginx = await runNginx('the TLS proxy', (port, dir) =>
    mainConf(dir, [
      'server {',
      `  listen 127.0.0.1:${port} ssl http2;`,
      `  ssl_certificate ${certs.serverCert};`,
      `  ssl_certificate_key ${certs.serverKey};`,
      `  ssl_client_certificate ${certs.ca};`,
      '  ssl_verify_client on;',
      '  client_max_body_size 0;',
      // Long polls hold a call for about a minute.
      '  grpc_read_timeout 300s;',
      '  grpc_send_timeout 300s;',
      `  location / { grpc_pass grpc://${upstream}; }`,
      '}',
    ]),
  );
  return { address: `127.0.0.1:${nginx.port}`, stop: nginx.stop };
}

/** The Temporal CLI's variables for a client of `address` with the test's client certificate. */
export function tlsClientEnv(
  address: string,
  certs: TestCerts,
  overrides: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return {
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.ca,
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
    ...overrides,
  };
}

/** `rollback doctor --json` on `taskQueue`: reachable and a worker polling, both ok; its checks. */
export async function expectDoctorOk(taskQueue: string, env: Record<string, string | undefined>) {
  const doctor = await runCli(['doctor', '--task-queue', taskQueue, '--json'], env);
  expect(doctor.code).toBe(0);
  const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] })
    .checks;
  expect(checks.find((c) => c.name === 'reachable')).toMatchObject({ status: 'ok' });
  expect(checks.find((c) => c.name === 'worker')).toMatchObject({ status: 'ok' });
  return checks;
}

/**
 * The CLI refuses a server certificate of another CA (exit 2, naming the variable) and, with no
 * client certificate, says which variables give one; a message each time, never a stack trace.
 */
export async function expectTlsRefusals(
  address: string,
  certs: TestCerts,
  env: Record<string, string | undefined>,
) {
  const wrongCa = await runCli(['list'], { ...env, TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.otherCa });
  expect(wrongCa.code).toBe(2);
  expect(wrongCa.stderr).toContain(`the server at ${address} has a certificate this client does not trust`);
  expect(wrongCa.stderr).toContain('TEMPORAL_TLS_SERVER_CA_CERT_PATH');
  expect(wrongCa.stderr).not.toMatch(/^\s+at /m); // a message, not a stack trace

  const noClientCert = await runCli(['list'], {
    ...env,
    TEMPORAL_TLS: 'true',
    TEMPORAL_TLS_CLIENT_CERT_PATH: undefined,
    TEMPORAL_TLS_CLIENT_KEY_PATH: undefined,
  });
  expect(noClientCert.code).not.toBe(0);
  expect(noClientCert.stderr).toContain(`cannot connect to a Temporal server at ${address}`);
  expect(noClientCert.stderr).toContain(
    'if the server requires a client certificate, give it with TEMPORAL_TLS_CLIENT_CERT_PATH',
  );
  expect(noClientCert.stderr).not.toMatch(/^\s+at /m);
}
