import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server } from 'node:tls';
import { connectionSettings } from '../src/temporal/connection';
import { RollbackClient } from '../src/client';
import { ConfigError } from '../src/targets/errors';
import { createWorker } from '../src/worker';
import { eventually } from './rig/eventually';
import { runCli } from './rig/rollback';
import { installTestRuntime, testTaskQueue } from './rig/temporal';

/**
 * Connection settings come from the Temporal CLI's own environment and config file (through
 * @temporalio/envconfig), for the CLI and the worker alike: profiles, TLS with a client certificate
 * and a private CA, a server name, API keys; --address and --namespace still win.
 */
const dir = mkdtempSync(join(tmpdir(), 'rb-conn-'));
const server = process.env.TEMPORAL_ADDRESS!;
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('connectionSettings', () => {
  test('flags, then the environment, then the profile, then the local dev server', () => {
    expect(connectionSettings({}, {})).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default' });
    const toml = file(
      'plain.toml',
      '[profile.default]\naddress = "profile.example:7233"\nnamespace = "from-profile"\n',
    );
    const env = { TEMPORAL_CONFIG_FILE: toml };
    expect(connectionSettings({}, env)).toMatchObject({
      address: 'profile.example:7233',
      namespace: 'from-profile',
    });
    expect(connectionSettings({}, { ...env, TEMPORAL_ADDRESS: 'env.example:7233' })).toMatchObject({
      address: 'env.example:7233',
      namespace: 'from-profile',
    });
    expect(
      connectionSettings(
        { address: 'flag.example:7233', namespace: 'ns' },
        { ...env, TEMPORAL_ADDRESS: 'x:1' },
      ),
    ).toMatchObject({
      address: 'flag.example:7233',
      namespace: 'ns',
    });
  });

  test('a profile’s TLS files, server name and API key', () => {
    const [cert, key, ca] = ['client.pem', 'client.key', 'ca.pem'].map((n) => file(n, `-----${n}-----\n`));
    const toml = file(
      'tls.toml',
      `[profile.prod]\naddress = "prod.example:7233"\napi_key = "k-123"\n[profile.prod.tls]\nclient_cert_path = "${cert}"\nclient_key_path = "${key}"\nserver_ca_cert_path = "${ca}"\nserver_name = "temporal.prod"\n`,
    );
    const settings = connectionSettings({ profile: 'prod' }, { TEMPORAL_CONFIG_FILE: toml });
    expect(settings).toMatchObject({ address: 'prod.example:7233', apiKey: 'k-123' });
    expect(settings.tls).toMatchObject({ serverNameOverride: 'temporal.prod' });
    const tls = settings.tls as {
      clientCertPair: { crt: Uint8Array; key: Uint8Array };
      serverRootCACertificate: Uint8Array;
    };
    expect(Buffer.from(tls.clientCertPair.crt).toString()).toBe(readFileSync(cert, 'utf8'));
    expect(Buffer.from(tls.clientCertPair.key).toString()).toBe(readFileSync(key, 'utf8'));
    expect(Buffer.from(tls.serverRootCACertificate).toString()).toBe(readFileSync(ca, 'utf8'));
    // An API key alone turns TLS on, as in the Temporal CLI.
    expect(connectionSettings({}, { TEMPORAL_API_KEY: 'k' }).tls).toBe(true);
  });

  test('a missing profile, config file or certificate is named', () => {
    const toml = file('one.toml', '[profile.default]\naddress = "a:1"\n');
    expect(() => connectionSettings({ profile: 'staging' }, { TEMPORAL_CONFIG_FILE: toml })).toThrow(
      /profile "staging".*Profile 'staging' not found/,
    );
    expect(() => connectionSettings({}, { TEMPORAL_CONFIG_FILE: join(dir, 'absent.toml') })).toThrow(
      `TEMPORAL_CONFIG_FILE names ${join(dir, 'absent.toml')}, which does not exist`,
    );
    const missing = join(dir, 'nowhere.pem');
    expect(() =>
      connectionSettings(
        {},
        { TEMPORAL_TLS_CLIENT_CERT_PATH: missing, TEMPORAL_TLS_CLIENT_KEY_PATH: missing },
      ),
    ).toThrow(ConfigError);
    expect(() =>
      connectionSettings(
        {},
        { TEMPORAL_TLS_CLIENT_CERT_PATH: missing, TEMPORAL_TLS_CLIENT_KEY_PATH: missing },
      ),
    ).toThrow(missing);
  });
});

describe('the rollback command', () => {
  test('connects through a profile; --address overrides it; an unknown profile is exit 2', async () => {
    const toml = file(
      'cli.toml',
      `[profile.staging]\naddress = "${server}"\n[profile.broken]\naddress = "127.0.0.1:1"\n`,
    );
    const env = { TEMPORAL_ADDRESS: undefined, TEMPORAL_CONFIG_FILE: toml };
    const viaProfile = await runCli(['list', '--json', '--limit', '1'], {
      ...env,
      TEMPORAL_PROFILE: 'staging',
    });
    expect(viaProfile.stderr).toBe('');
    expect(viaProfile.code).toBe(0);
    const overridden = await runCli(
      ['--profile', 'broken', '--address', server, 'list', '--json', '--limit', '1'],
      env,
    );
    expect(overridden.code).toBe(0);
    const unknown = await runCli(['--profile', 'nope', 'list'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('profile "nope"');
  });

  test('an API key turns TLS on: against a server without TLS that is named, and the key is not shown', async () => {
    const r = await runCli(['list'], { TEMPORAL_API_KEY: 'sekrit-api-key' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${server} does not speak TLS, but TLS is on for it`);
    expect(r.stderr).not.toContain('sekrit-api-key');
  });
});

describe('TLS with a client certificate and a private CA, through a TLS front for the dev server', () => {
  let front: Server;
  let frontAddress: string;
  let toml: string;

  function openssl(args: string[]) {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  }

  /** A certificate for `cn` signed by the test CA, with `san` as its subject alternative name. */
  function issue(name: string, cn: string, san: string) {
    openssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ]);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    openssl([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    ]);
  }

  beforeAll(async () => {
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=rollback test CA',
    ]);
    issue('server', 'temporal.test', 'DNS:temporal.test');
    issue('client', 'rollback-cli', 'DNS:rollback-cli');
    const read = (n: string) => readFileSync(join(dir, n));
    const [host, port] = [
      server.slice(0, server.lastIndexOf(':')),
      Number(server.slice(server.lastIndexOf(':') + 1)),
    ];
    // Terminates TLS (client certificate required) and passes the HTTP/2 bytes on to the dev server.
    front = createTlsServer(
      {
        key: read('server.key'),
        cert: read('server.pem'),
        ca: read('ca.pem'),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      },
      (socket) => {
        const upstream = tcpConnect(port, host);
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      },
    );
    front.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    frontAddress = `127.0.0.1:${(front.address() as { port: number }).port}`;
    toml = file(
      'mtls.toml',
      `[profile.secure]\naddress = "${frontAddress}"\n[profile.secure.tls]\nclient_cert_path = "${join(dir, 'client.pem')}"\nclient_key_path = "${join(dir, 'client.key')}"\nserver_ca_cert_path = "${join(dir, 'ca.pem')}"\nserver_name = "temporal.test"\n`,
    );
  });
  afterAll(() => new Promise<void>((r) => front.close(() => r())));

  test('the worker and the CLI both connect with the profile; without the client certificate the CLI cannot', async () => {
    installTestRuntime();
    const taskQueue = testTaskQueue('mtls');
    const saved = { ...process.env };
    process.env.TEMPORAL_CONFIG_FILE = toml;
    delete process.env.TEMPORAL_ADDRESS;
    let stop: (() => Promise<void>) | undefined;
    try {
      const { worker, close } = await createWorker({ profile: 'secure', taskQueue });
      const running = worker.run();
      stop = async () => {
        worker.shutdown();
        await running;
        await close();
      };
      const client = await RollbackClient.connect({ profile: 'secure', taskQueue });
      try {
        // The worker's first poll may take a moment to reach the server through the TLS front.
        await eventually(
          'the worker to poll through the TLS front',
          async () => (await client.workerPresence()).polling,
        );
      } finally {
        await client.close();
      }
    } finally {
      process.env = saved;
      await stop?.();
    }
    const env = { TEMPORAL_ADDRESS: undefined, TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'secure' };
    const list = await runCli(['list', '--json', '--limit', '1'], env);
    expect(list.code).toBe(0);
    const noCert = await runCli(['list'], {
      TEMPORAL_ADDRESS: frontAddress,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'ca.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
    });
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toContain(`cannot connect to a Temporal server at ${frontAddress}`);
  });
});
