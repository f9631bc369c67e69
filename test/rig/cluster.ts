import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../../src/model/search-attributes';
import { ensureTemporalCli } from '../../src/temporal/cli-binary';
import { isAddressInUse, PortInUseError } from '../../src/temporal/dev-server';
import { Cleanup } from './cleanup';
import { eventually, GiveUp } from './eventually';
import { portRefuses, reservePort, withFreshPort, type PortReservation } from './ports';
import { scratchRoot } from './sandbox';
import { installedTool, stopChild } from './tools';
import type { TestCerts } from './tls-proxy';

const run = promisify(execFile);

/**
 * A production-shaped Temporal: the real server (v1.32.1, built from Go by
 * scripts/install-temporal-server.sh) with all four services in one process, on a PostgreSQL 15 of
 * its own (a data folder in a temp dir, its own port), schema set up by the server's sql tool, the
 * `default` namespace and the project's search attributes created through the operator API, as an
 * operator sets up a cluster. `stopServer`/`startServer` restart the server on the same ports and
 * database (Postgres keeps running), so what the server stored must survive.
 */
export interface TestCluster {
  /** The frontend's gRPC address, host:port. */
  address: string;
  namespace: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits until its frontend port refuses. */
  stopServer(): Promise<void>;
  /** Starts the server again, same config and database, and waits until it serves the namespace. */
  startServer(): Promise<void>;
  /** The server's recent output (warnings and errors), for a failing test to show. */
  log(): string;
  /** Every row the server stored (its two databases, as pg_dump writes them: bytea in hex). */
  dumpDatabases(): Promise<string>;
  /** Stops the server and Postgres, releases the ports, removes the folder. */
  stop(): Promise<void>;
}

const NAMESPACE = 'default';
/** The membership (ringpop) ports are stored as smallint: a port above this crashes the server. */
const MAX_MEMBERSHIP_PORT = 32_767;
const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;

/** Keeps the last `max` characters of a process's output. */
function tail(child: ChildProcess, max = 8000): () => string {
  let text = '';
  const add = (d: Buffer) => (text = (text + d.toString()).slice(-max));
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => text;
}

/** The user Postgres runs as: itself when not root (initdb and postgres refuse root). */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('the cluster suite runs Postgres as the "postgres" user when run as root: create it');
  }
}

/** argv run as `user` (setpriv keeps the pid: signalling the child signals Postgres itself). */
function asUser(user: { uid: number; gid: number } | undefined, argv: string[]): string[] {
  return user
    ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', ...argv]
    : argv;
}

/**
 * Notes a process's pid as `service.pid` in a folder of the run's scratch root: the run's
 * globalTeardown stops it if this test process dies before its cleanup could.
 */
function sweepable(name: string, cleanup: Cleanup): (pid: number | undefined) => void {
  const marker = mkdtempSync(join(scratchRoot(), name));
  cleanup.add(`the ${name} marker`, () => rmSync(marker, { recursive: true, force: true }));
  return (pid) => {
    if (pid) writeFileSync(join(marker, 'service.pid'), String(pid));
  };
}

async function startPostgres(cleanup: Cleanup): Promise<number> {
  // Its own folder (data, sockets), which the postgres user must reach: under the system temp dir.
  const dir = mkdtempSync(join(tmpdir(), 'rollback-cluster-pg-'));
  cleanup.add('the postgres folder', () => rmSync(dir, { recursive: true, force: true }));
  const notePid = sweepable('rb-cluster-postgres-', cleanup);
  const user = postgresUser();
  const data = join(dir, 'data');
  const sockets = join(dir, 'sockets');
  mkdirSync(sockets);
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(sockets, user.uid, user.gid);
  }
  const initdb = asUser(user, [
    'initdb',
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  await run(initdb[0]!, initdb.slice(1), { cwd: dir }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`initdb failed: ${err.stderr ?? err.message}`);
  });
  const { value: child, reservation } = await withFreshPort('postgres', async (port) => {
    // A throwaway database: durability settings off, the rest as shipped.
    const argv = asUser(user, [
      'postgres',
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      sockets,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ]);
    const proc = spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = tail(proc);
    try {
      await eventually(
        `postgres to accept connections on ${port}`,
        () => {
          if (proc.exitCode !== null || proc.signalCode !== null) {
            throw new GiveUp(`postgres exited: ${log().trim()}`);
          }
          return /ready to accept connections/.test(log());
        },
        30_000,
        50,
      );
    } catch (err) {
      await stopChild(proc, 'SIGKILL');
      throw isAddressInUse(log()) ? new PortInUseError(log().trim()) : err;
    }
    return proc;
  });
  cleanup.add('the postgres port', () => reservation.release());
  // SIGINT: Postgres' fast shutdown (SIGTERM would wait for the server's connections to close).
  notePid(child.pid);
  cleanup.add('postgres', () => stopChild(child, 'SIGINT'));
  return reservation.port;
}

/** Creates the two databases and loads the server's versioned schema into each (as an operator does). */
async function setupSchema(sqlTool: string, schemaDir: string, pgPort: number): Promise<void> {
  const env = { ...process.env, USER: process.env.USER || userInfo().username };
  for (const [db, schema] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ] as const) {
    const base = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(pgPort), '-u', 'postgres'];
    for (const command of [
      ['create-database'],
      ['setup-schema', '-v', '0.0'],
      ['update-schema', '-d', join(schemaDir, schema, 'versioned')],
    ]) {
      await run(sqlTool, [...base, '--db', db, ...command], { env }).catch(
        (err: Error & { stderr?: string; stdout?: string }) => {
          throw new Error(
            `sql tool ${command[0]} of ${db} failed: ${(err.stderr || err.stdout || err.message).trim()}`,
          );
        },
      );
    }
  }
}

/** A reserved port the membership table can store (see MAX_MEMBERSHIP_PORT). */
async function membershipPort(): Promise<PortReservation> {
  for (let i = 0; i < 50; i++) {
    const r = await reservePort();
    if (r.port <= MAX_MEMBERSHIP_PORT) return r;
    r.release();
  }
  throw new Error(`no free port at or below ${MAX_MEMBERSHIP_PORT} for the server's membership`);
}

type Ports = Record<(typeof SERVICES)[number], { grpcPort: number; membershipPort: number }>;

/**
 * The frontend's TLS: the server's certificate, client certificates of the test CA required
 * (mutual TLS); the server's own system workers present the client certificate too.
 */
function tlsConfig(certs: TestCerts) {
  const client = { serverName: 'localhost', rootCaFiles: [certs.ca] };
  return {
    frontend: {
      server: {
        certFile: certs.serverCert,
        keyFile: certs.serverKey,
        requireClientAuth: true,
        clientCaFiles: [certs.ca],
      },
      client,
    },
    systemWorker: { certFile: certs.clientCert, keyFile: certs.clientKey, client },
  };
}

/** What a client of a TLS frontend gives Connection.connect. */
export function clientTls(certs: TestCerts) {
  return {
    serverNameOverride: 'localhost',
    serverRootCACertificate: readFileSync(certs.ca),
    clientCertPair: { crt: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) },
  };
}

/** The Temporal CLI's flags for a TLS frontend. */
const cliTls = (certs: TestCerts) => [
  '--tls-cert-path',
  certs.clientCert,
  '--tls-key-path',
  certs.clientKey,
  '--tls-ca-path',
  certs.ca,
  '--tls-server-name',
  'localhost',
];

function serverConfig(pgPort: number, ports: Ports, certs?: TestCerts): string {
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${pgPort}`,
      connectProtocol: 'tcp',
      user: 'postgres',
      password: '',
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const frontend = `127.0.0.1:${ports.frontend.grpcPort}`;
  return stringify({
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: 4,
      datastores: {
        'postgres-default': store('temporal', 10),
        'postgres-visibility': store('temporal_visibility', 4),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      ...(certs ? { tls: tlsConfig(certs) } : {}),
    },
    services: Object.fromEntries(SERVICES.map((s) => [s, { rpc: { ...ports[s], bindOnIP: '127.0.0.1' } }])),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: frontend },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
  });
}

/**
 * Waits until the server serves the namespace with its search attributes: a visibility query
 * naming every one of them is refused until the frontend knows them all.
 */
async function untilServing(
  address: string,
  child: ChildProcess,
  log: () => string,
  certs?: TestCerts,
): Promise<void> {
  const query = SEARCH_ATTRIBUTES.map((a) => `${a.name} = 'x'`).join(' AND ');
  await eventually(
    `the Temporal server at ${address} to serve namespace ${NAMESPACE}`,
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new GiveUp(`the server exited (${child.exitCode ?? child.signalCode}): ${log().trim()}`);
      }
      const connection = await Connection.connect({
        address,
        connectTimeout: 1000,
        ...(certs ? { tls: clientTls(certs) } : {}),
      });
      try {
        await connection.workflowService.countWorkflowExecutions({ namespace: NAMESPACE, query });
        return true;
      } finally {
        await connection.close();
      }
    },
    60_000,
    200,
  );
}

/** `tls`: the frontend requires mutual TLS with these certificates (the test CA's). */
export async function startCluster(opts: { tls?: TestCerts } = {}): Promise<TestCluster> {
  const certs = opts.tls;
  const cleanup = new Cleanup();
  try {
    const tool = installedTool('install-temporal-server.sh');
    const server = tool('TEMPORAL_SERVER');
    const sqlTool = tool('TEMPORAL_SQL_TOOL');
    const schemaDir = tool('TEMPORAL_SCHEMA_DIR');
    const cli = ensureTemporalCli();
    const started = Date.now();
    const pgPort = await startPostgres(cleanup);
    // The server's config, in a folder whose service.pid the run's teardown would stop.
    const dir = mkdtempSync(join(scratchRoot(), 'rb-cluster-server-'));
    cleanup.add('the server folder', () => rmSync(dir, { recursive: true, force: true }));
    const schemaStarted = Date.now();
    await setupSchema(sqlTool, schemaDir, pgPort);
    const schemaMs = Date.now() - schemaStarted;

    const configFile = join(dir, 'temporal.yaml');
    const env = { ...process.env, USER: process.env.USER || userInfo().username };
    let child: ChildProcess | undefined;
    let log: () => string = () => '';
    const spawnServer = () => {
      const proc = spawn(server, ['--config-file', configFile, '--allow-no-auth', 'start'], {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      log = tail(proc);
      if (proc.pid) writeFileSync(join(dir, 'service.pid'), String(proc.pid));
      return proc;
    };
    cleanup.add('the Temporal server', () => child && stopChild(child, 'SIGTERM'));

    // The frontend's port by withFreshPort; the other seven ports reserved beside it, all anew
    // when the server finds one of them taken.
    const { value: ports, reservation } = await withFreshPort('the Temporal server', async (grpcPort) => {
      const held: PortReservation[] = [];
      try {
        const take = async (r: Promise<PortReservation>) => {
          const got = await r;
          held.push(got);
          return got.port;
        };
        const ports = {} as Ports;
        for (const s of SERVICES) {
          ports[s] = {
            grpcPort: s === 'frontend' ? grpcPort : await take(reservePort()),
            membershipPort: await take(membershipPort()),
          };
        }
        writeFileSync(configFile, serverConfig(pgPort, ports, certs));
        const proc = spawnServer();
        // Ready enough to take operator calls; the namespace comes next.
        await eventually(
          `the Temporal server to answer on ${grpcPort}`,
          async () => {
            if (proc.exitCode !== null || proc.signalCode !== null) {
              throw isAddressInUse(log())
                ? new GiveUp(`port in use: ${log().trim()}`)
                : new GiveUp(`the server exited (${proc.exitCode ?? proc.signalCode}): ${log().trim()}`);
            }
            const connection = await Connection.connect({
              address: `127.0.0.1:${grpcPort}`,
              connectTimeout: 1000,
              ...(certs ? { tls: clientTls(certs) } : {}),
            });
            try {
              await connection.workflowService.getSystemInfo({});
              return true;
            } finally {
              await connection.close();
            }
          },
          60_000,
          200,
        );
        return { ports, held };
      } catch (err) {
        if (child) await stopChild(child, 'SIGKILL');
        held.forEach((r) => r.release());
        throw isAddressInUse(log()) ? new PortInUseError((err as Error).message) : err;
      }
    });
    cleanup.add('the Temporal server ports', () => {
      reservation.release();
      ports.held.forEach((r) => r.release());
    });
    const grpcPort = ports.ports.frontend.grpcPort;
    const address = `127.0.0.1:${grpcPort}`;

    // As an operator creates them, through the operator API (the Temporal CLI).
    const operator = async (args: string[]) => {
      const argv = ['operator', ...args, '--address', address, ...(certs ? cliTls(certs) : [])];
      await eventually(
        `temporal ${argv.join(' ')}`,
        async () => {
          try {
            await run(cli, argv);
            return true;
          } catch (err) {
            const out = (err as { stderr?: string }).stderr ?? '';
            if (/already (exists|registered)/i.test(out)) return true;
            throw new Error(out.trim() || (err as Error).message, { cause: err });
          }
        },
        30_000,
        250,
      );
    };
    const setupStarted = Date.now();
    await operator(['namespace', 'create', '--namespace', NAMESPACE, '--retention', '24h']);
    for (const attribute of SEARCH_ATTRIBUTES) {
      await operator([
        'search-attribute',
        'create',
        '--namespace',
        NAMESPACE,
        '--name',
        attribute.name,
        '--type',
        'Keyword',
      ]);
    }
    await untilServing(address, child!, log, certs);
    process.stderr.write(
      `[rig] Temporal server ${address} on PostgreSQL 127.0.0.1:${pgPort}, ready in ${Date.now() - started} ms ` +
        `(schema ${schemaMs} ms, namespace and search attributes ${Date.now() - setupStarted} ms)\n`,
    );

    return {
      address,
      namespace: NAMESPACE,
      async stopServer() {
        const stopping = Date.now();
        if (child) await stopChild(child, 'SIGTERM');
        await eventually(`port ${grpcPort} to refuse connections`, () => portRefuses(grpcPort));
        process.stderr.write(`[rig] Temporal server stopped in ${Date.now() - stopping} ms\n`);
      },
      async startServer() {
        if (child && child.exitCode === null && child.signalCode === null) {
          throw new Error('startServer: the Temporal server is still running');
        }
        const starting = Date.now();
        const proc = spawnServer();
        await untilServing(address, proc, log, certs);
        process.stderr.write(`[rig] Temporal server serving again in ${Date.now() - starting} ms\n`);
      },
      log: () => log(),
      async dumpDatabases() {
        const dumps = await Promise.all(
          ['temporal', 'temporal_visibility'].map((db) =>
            run('pg_dump', ['-h', '127.0.0.1', '-p', String(pgPort), '-U', 'postgres', '-d', db], {
              maxBuffer: 512 * 2 ** 20,
            }),
          ),
        );
        return dumps.map((d) => d.stdout).join('\n');
      },
      stop: () => cleanup.run(),
    };
  } catch (err) {
    return cleanup.abandon(err);
  }
}
