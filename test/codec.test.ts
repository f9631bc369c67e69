import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import type { RollbackClient } from '../src/client';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';
import { codecKeysFromEnv } from '../src/temporal/codec';
import { Cleanup } from './rig/cleanup';
import { commandRollback } from './rig/configs';
import { createFakeActivities } from './rig/fake-activities';
import { eventually } from './rig/eventually';
import { ROOT, runCli } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';
import { connectClient, startWorker, testTaskQueue, type RunningWorker } from './rig/temporal';

/**
 * Encrypted payloads against a real dev server and its real SQLite file: a rollback run by a worker
 * with keys leaves its reason and its step's error text nowhere in the database (one run without
 * keys, beside it, leaves both there: the search can find them); a client without the key gets a
 * clear error; keys rotate (new writes, old still read); `rollback codec-server` decodes for the Web UI.
 */

const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-codec-'));
const deployPath = join(root, 'srv');
let server: DevServer;
const savedKeys = process.env.ROLLBACK_CODEC_KEYS;
const key = () => randomBytes(32).toString('base64');
const k1 = `k1:${key()}`;
const k2 = `k2:${key()}`;

beforeAll(async () => {
  cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));
  cleanup.add('the keys variable', () => {
    if (savedKeys === undefined) delete process.env.ROLLBACK_CODEC_KEYS;
    else process.env.ROLLBACK_CODEC_KEYS = savedKeys;
  });
  mkdirSync(deployPath);
  execFileSync('git', ['init', '-q', deployPath]);
  server = await startDevServer({ dbFile: join(root, 'temporal.sqlite'), headless: true });
  cleanup.add('the dev server', () => server.stop());
});

afterAll(() => cleanup.run());

/** Runs with these keys in the environment (none: undefined); the worker and client read them at creation. */
async function withKeys<T>(keys: string | undefined, work: () => Promise<T>): Promise<T> {
  if (keys === undefined) delete process.env.ROLLBACK_CODEC_KEYS;
  else process.env.ROLLBACK_CODEC_KEYS = keys;
  try {
    return await work();
  } finally {
    delete process.env.ROLLBACK_CODEC_KEYS;
  }
}

interface Run {
  workflowId: string;
  runId: string;
  reason: string;
  error: string;
}

/** A worker (keys as given) whose stop step fails once with `error`, and a rollback with `reason`. */
async function rollbackWith(
  keys: string | undefined,
  name: string,
): Promise<Run & { client: RollbackClient }> {
  const queue = testTaskQueue(`codec-${name}`);
  const reason = `reason-canary-${name}-${randomBytes(6).toString('hex')}`;
  const error = `error-canary-${name}-${randomBytes(6).toString('hex')}: ECONNREFUSED 10.0.0.5:5432`;
  const { worker, client } = await withKeys(keys, async () => ({
    worker: (await startWorker(
      queue,
      server.address,
      createFakeActivities({ fail: { stopService: { times: 1, type: 'Error', message: error } } }),
    )) as RunningWorker,
    client: await connectClient(queue, server.address),
  }));
  cleanup.add(`worker ${name}`, () => worker.stop());
  cleanup.add(`client ${name}`, () => client.close());
  const { request, plan } = commandRollback(`codec-${name}`, deployPath, root, { request: { reason } });
  const started = await client.start(request, plan);
  const result = await client.result(started.workflowId, started.runId);
  expect(result.record).toMatchObject({ status: 'succeeded', reason });
  return { ...started, reason, error, client };
}

/** Every byte of the server's database (its file, write-ahead log and shared memory), as text. */
function databaseText(): string {
  const file = join(root, 'temporal.sqlite');
  return ['', '-wal', '-shm', '-journal']
    .map((suffix) => file + suffix)
    .filter((p) => existsSync(p))
    .map((p) => readFileSync(p).toString('latin1'))
    .join('\n');
}

test('with keys, no reason or error text is in the database; a client without the key gets a clear error; keys rotate; the codec server decodes', async () => {
  const plain = await rollbackWith(undefined, 'plain');
  const sealed = await withKeys(k1, () => rollbackWith(k1, 'sealed'));

  // A client with the key reads everything back; the error text is in the attempt's failure.
  const reader = await withKeys(k1, () => connectClient('unused', server.address));
  cleanup.add('the reader', () => reader.close());
  expect((await reader.result(sealed.workflowId, sealed.runId)).record).toMatchObject({
    reason: sealed.reason,
  });

  // The CLI without the key: a clear error, exit 2.
  const blind = await runCli(['--address', server.address, 'status', sealed.workflowId], {
    ROLLBACK_CODEC_KEYS: undefined,
  });
  expect(blind.code).toBe(2);
  expect(blind.stderr).toContain('encrypted');
  expect(blind.stderr).toContain('ROLLBACK_CODEC_KEYS');
  // With it, the same command shows the reason.
  const seeing = await runCli(['--address', server.address, 'status', sealed.workflowId], {
    ROLLBACK_CODEC_KEYS: k1,
  });
  expect(seeing.code).toBe(0);
  expect(seeing.stdout + seeing.stderr).toContain(sealed.reason);

  // Rotation: k2 writes, k1 still reads; a process with only k1 cannot read k2's, and says so.
  const rotated = await withKeys(`${k2},${k1}`, () => rollbackWith(`${k2},${k1}`, 'rotated'));
  const both = await withKeys(`${k2},${k1}`, () => connectClient('unused', server.address));
  cleanup.add('the rotated reader', () => both.close());
  expect((await both.result(sealed.workflowId, sealed.runId)).record).toMatchObject({
    reason: sealed.reason,
  });
  expect((await both.result(rotated.workflowId, rotated.runId)).record).toMatchObject({
    reason: rotated.reason,
  });
  await expect(reader.result(rotated.workflowId, rotated.runId)).rejects.toThrow(
    /encrypted with key "k2", which this process does not have/,
  );

  // The codec server decodes the raw history for the Web UI; refuses without its token.
  const raw = new Client({ connection: await Connection.connect({ address: server.address }) });
  cleanup.add('the raw connection', () => raw.connection.close());
  const history = await raw.workflow.getHandle(sealed.workflowId, sealed.runId).fetchHistory();
  const input = history.events![0].workflowExecutionStartedEventAttributes!.input!.payloads!;
  const asJson = input.map((p) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    data: Buffer.from(p.data!).toString('base64'),
  }));
  expect(Buffer.from(asJson[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
  expect(Buffer.from(asJson[0].data, 'base64').toString('latin1')).not.toContain(sealed.reason);
  const codec = await startCodecServer(k1, 'codec-token-123');
  const decode = (headers: Record<string, string>) =>
    fetch(`${codec.url}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ payloads: asJson }),
    });
  expect((await decode({})).status).toBe(401);
  expect((await decode({ authorization: 'Bearer wrong' })).status).toBe(401);
  const decoded = await decode({ authorization: 'Bearer codec-token-123', origin: 'http://localhost:8233' });
  expect(decoded.status).toBe(200);
  expect(decoded.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
  const body = (await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
  expect(Buffer.from(body.payloads[0].metadata.encoding, 'base64').toString()).toBe('json/plain');
  expect(Buffer.from(body.payloads[0].data, 'base64').toString()).toContain(sealed.reason);
  // CORS: the Web UI's origin gets its preflight answered; another origin does not.
  const preflight = (origin: string) =>
    fetch(`${codec.url}/decode`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
  expect((await preflight('http://localhost:8233')).status).toBe(204);
  const foreign = await preflight('https://evil.example');
  expect(foreign.status).toBe(403);
  expect(foreign.headers.get('access-control-allow-origin')).toBeNull();

  // The database, read after the server stops: the run without keys left its reason and error
  // text there (so the search works); the runs with keys left neither.
  await server.stop();
  const db = databaseText();
  expect(db).toContain(plain.reason);
  expect(db).toContain(plain.error.split(':')[0]);
  for (const run of [sealed, rotated]) {
    expect(db).not.toContain(run.reason);
    expect(db).not.toContain(run.error.split(':')[0]);
  }
});

test('bad keys are refused before anything connects, naming the problem and the fix', async () => {
  expect(() => codecKeysFromEnv({ ROLLBACK_CODEC_KEYS: 'k1:c2hvcnQ=' })).toThrow(
    /key "k1" is not 32 bytes of base64; make one with: openssl rand -base64 32/,
  );
  expect(() => codecKeysFromEnv({ ROLLBACK_CODEC_KEYS: `${k1},${k1}` })).toThrow(
    /key id "k1" is given twice/,
  );
  expect(() => codecKeysFromEnv({ ROLLBACK_CODEC_KEYS: k1, ROLLBACK_CODEC_KEY_FILE: '/x' })).toThrow(
    /keep one of them/,
  );
  // A mistyped entry may be the key itself: no message shows it, in the variable or a key file.
  const bare = randomBytes(32).toString('base64');
  const keyFile = join(root, 'bare-keys');
  for (const [env, message] of [
    [
      { ROLLBACK_CODEC_KEYS: bare },
      'ROLLBACK_CODEC_KEYS entry 1 has no "ID:" before its key; write it as ID:BASE64KEY',
    ],
    [{ ROLLBACK_CODEC_KEYS: `k1 ${bare}` }, 'ROLLBACK_CODEC_KEYS entry 1 has no "ID:"'],
    [{ ROLLBACK_CODEC_KEYS: `${bare.slice(0, 20)}/:${bare}` }, 'the key id is not a name'],
    [
      { ROLLBACK_CODEC_KEY_FILE: keyFile },
      `${keyFile} line 1 holds 1 word(s), not two; write it as ID BASE64KEY`,
    ],
  ] as const) {
    writeFileSync(keyFile, `${bare}\n`);
    let thrown = '';
    try {
      codecKeysFromEnv(env);
    } catch (err) {
      thrown = (err as Error).message;
    }
    expect(thrown).toContain(message);
    expect(thrown).not.toContain(bare.slice(0, 12));
  }
  const file = join(root, 'keys');
  writeFileSync(file, `# written first\n${k2.replace(':', ' ')}\n${k1.replace(':', '  ')}\n`);
  expect(codecKeysFromEnv({ ROLLBACK_CODEC_KEY_FILE: file })!.map((k) => k.id)).toEqual(['k2', 'k1']);
  // The CLI: exit 2, the message, and no connection attempted (the address does not answer).
  const r = await runCli(['--address', '127.0.0.1:1', 'list'], { ROLLBACK_CODEC_KEYS: 'k1:c2hvcnQ=' });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('ROLLBACK_CODEC_KEYS entry 1: key "k1" is not 32 bytes of base64');
  const c = await runCli(['codec-server', '--port', '0'], {
    ROLLBACK_CODEC_KEYS: undefined,
    ROLLBACK_CODEC_KEY_FILE: undefined,
  });
  expect(c.code).toBe(2);
  expect(c.stderr).toContain('no keys: set ROLLBACK_CODEC_KEYS');
});

/** `rollback codec-server` in a process of its own, on a port it chose. */
async function startCodecServer(keys: string, token: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'rollback.js'), 'codec-server', '--port', '0', '--token-env', 'CODEC_TOKEN'],
    {
      env: { ...process.env, ROLLBACK_CODEC_KEYS: keys, CODEC_TOKEN: token },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  cleanup.add('the codec server', () => {
    child.kill('SIGTERM');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await eventually(
    'the codec server listens',
    () => /listening on (http:\/\/\S+)/.exec(stderr)?.[1],
  );
  return { url, child };
}
