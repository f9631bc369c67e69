import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAddressInUse, PortInUseError } from '../../src/temporal/dev-server';
import { Cleanup } from './cleanup';
import { withFreshPort } from './ports';
import { installedTool, stopChild } from './tools';

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

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startTlsProxy(
  upstream: string,
  certs: TestCerts,
): Promise<{ address: string; stop: () => Promise<void> }> {
  const cleanup = new Cleanup();
  try {
    const bin = installedTool('install-nginx.sh')('NGINX');
    const dir = mkdtempSync(join(tmpdir(), 'rollback-tls-proxy-'));
    cleanup.add('the proxy folder', () => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'tmp'));
    mkdirSync(join(dir, 'logs'));
    const conf = join(dir, 'nginx.conf');
    let log = '';
    const { value: child, reservation } = await withFreshPort('the TLS proxy', async (port) => {
      writeFileSync(
        conf,
        [
          'daemon off;',
          `pid ${join(dir, 'nginx.pid')};`,
          'error_log stderr warn;',
          'events { worker_connections 256; }',
          'http {',
          '  access_log off;',
          ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
            (t) => `  ${t}_temp_path ${join(dir, 'tmp')};`,
          ),
          '  server {',
          `    listen 127.0.0.1:${port} ssl http2;`,
          `    ssl_certificate ${certs.serverCert};`,
          `    ssl_certificate_key ${certs.serverKey};`,
          `    ssl_client_certificate ${certs.ca};`,
          '    ssl_verify_client on;',
          '    client_max_body_size 0;',
          // Long polls hold a call for about a minute.
          '    grpc_read_timeout 300s;',
          '    grpc_send_timeout 300s;',
          `    location / { grpc_pass grpc://${upstream}; }`,
          '  }',
          '}',
          '',
        ].join('\n'),
      );
      const proc = spawn(bin, ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const deadline = Date.now() + 15_000;
      for (;;) {
        if (proc.exitCode !== null) {
          throw isAddressInUse(log)
            ? new PortInUseError(log.trim())
            : new Error(`nginx exited: ${log.trim()}`);
        }
        if (await portAnswers(port)) return proc;
        if (Date.now() > deadline) {
          proc.kill('SIGKILL');
          throw new Error(`nginx did not listen on ${port} within 15 s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    cleanup.add('the proxy port', () => reservation.release());
    cleanup.add('nginx', () => stopChild(child, 'SIGQUIT'));
    return { address: `127.0.0.1:${reservation.port}`, stop: () => cleanup.run() };
  } catch (err) {
    return cleanup.abandon(err);
  }
}
