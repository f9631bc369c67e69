/**
 * End-to-end check of the lightdash-mcp fixture and its git rig: real git
 * remote, real `npm ci --offline`, real server processes, real MCP clients.
 * Everything the orchestrator's own tests assume about "the service we roll
 * back" is pinned here, so a broken fixture fails in one obvious place.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  BAD_TAG,
  BAD_VERSION,
  FailureMode,
  GOOD_TAG,
  GOOD_VERSION,
  createFixtureRemote,
  deployWorkingCopy,
  git,
  gitDescribe,
  gitHead,
  ALL_TOOLS,
} from './rig/fixture-repo';
import { eventually, GiveUp } from './rig/eventually';
import { waitForHttp } from './rig/sandbox';

// Unique per run so a match in the output can only come from a leak.
const SECRET = `ldk_test_${randomBytes(12).toString('hex')}`;
const SETUP_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 20_000;

interface RunningServer {
  child: ChildProcess;
  port: number;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();
let tmpRoot = '';

beforeAll(async () => {
  tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'lightdash-fixture-'));
});

afterAll(async () => {
  // SIGKILL: by now nothing should be running, and a stuck child must not keep jest alive.
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  if (tmpRoot) await fs.rm(tmpRoot, { recursive: true, force: true });
});

/** The parent environment minus anything that would change the fixture's behaviour. */
function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && k !== 'LIGHTDASH_API_KEY' && k !== 'SLOW_MS' && k !== 'PORT') env[k] = v;
  }
  return { ...env, ...extra };
}

function spawnTracked(cwd: string, args: string[], env: Record<string, string>): Omit<RunningServer, 'port'> {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output.stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output.stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

async function waitExit(server: Omit<RunningServer, 'port'>, ms: number): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([server.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The server on a port it binds itself (PORT=0) and names in its first log line. */
async function startServer(cwd: string, extraEnv: Record<string, string> = {}): Promise<RunningServer> {
  const proc = spawnTracked(cwd, ['server.js'], baseEnv({ ...extraEnv, PORT: '0' }));
  const port = await eventually(
    'the server to report the port it listens on',
    () => {
      if (proc.child.exitCode !== null) {
        throw new GiveUp(`server exited with ${proc.child.exitCode} before listening: ${proc.output.stderr}`);
      }
      return Number(/listening on http:\/\/127\.0\.0\.1:(\d+) /.exec(proc.output.stdout)?.[1]);
    },
    10_000,
  );
  // Any HTTP answer means it is listening; health itself is what the tests judge.
  await waitForHttp(`http://127.0.0.1:${port}/health`, 10_000);
  return { ...proc, port };
}

async function stopServer(server: RunningServer | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  if ((await waitExit(server, 3_000)) === 'timeout') {
    server.child.kill('SIGKILL');
    await server.exited;
  }
}

async function getHealth(
  port: number,
): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body, ms: performance.now() - started };
}

async function withHttpClient<T>(port: number, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ name: 'fixture-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function firstText(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  const item = content.find((c) => c.type === 'text');
  if (!item?.text) throw new Error(`no text content in ${JSON.stringify(result)}`);
  return item.text;
}

describe('good release v1.11.4', () => {
  let remote = '';
  let deployPath = '';
  let server: RunningServer | undefined;

  beforeAll(async () => {
    ({ remote } = await createFixtureRemote({ dir: path.join(tmpRoot, 'repo') }));
    deployPath = path.join(tmpRoot, 'deploy-good');
    await deployWorkingCopy({ remote, path: deployPath, ref: GOOD_TAG, env: { LIGHTDASH_API_KEY: SECRET } });
    server = await startServer(deployPath);
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await stopServer(server);
  });

  test('remote has both releases, the bad one with a code change', async () => {
    expect(await git(['tag', '--list'], remote)).toBe(`${GOOD_TAG}\n${BAD_TAG}`);
    // Annotated, because rollback tooling may rely on tag messages/taggers.
    expect(await git(['cat-file', '-t', GOOD_TAG], remote)).toBe('tag');
    expect(await git(['cat-file', '-t', BAD_TAG], remote)).toBe('tag');
    const changed = (await git(['diff', '--name-only', GOOD_TAG, BAD_TAG], remote)).split('\n');
    expect(changed).toEqual(expect.arrayContaining(['package.json', 'release.json', 'server.js']));
    const badRelease = JSON.parse(await git(['show', `${BAD_TAG}:release.json`], remote)) as unknown;
    expect(badRelease).toEqual({ failureMode: 'unhealthy' });
  });

  test('working copy is at the tag, clean, with a private .env', async () => {
    expect(await gitDescribe(deployPath)).toBe(GOOD_TAG);
    expect(await gitHead(deployPath)).toBe(await git(['rev-parse', `${GOOD_TAG}^{commit}`], remote));
    // .env and node_modules must be ignored, or a deploy would dirty the tree.
    expect(await git(['status', '--porcelain'], deployPath)).toBe('');
    const mode = (await fs.stat(path.join(deployPath, '.env'))).mode & 0o777;
    expect(mode).toBe(0o600);
  });

  test('/health is healthy and reports the tag version', async () => {
    const health = await getHealth(server!.port);
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'healthy', version: GOOD_VERSION, features: { qurator: true } });
  });

  test(
    'lists 13 tools over HTTP and calls lightdash_list_projects',
    async () => {
      await withHttpClient(server!.port, async (client) => {
        expect(client.getServerVersion()).toMatchObject({ name: 'lightdash-mcp', version: GOOD_VERSION });
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name).sort()).toEqual([...ALL_TOOLS].sort());
        const result = await client.callTool({ name: 'lightdash_list_projects', arguments: {} });
        expect(JSON.parse(firstText(result))).toEqual({ projects: [{ uuid: 'p-1', name: 'Demo' }] });
        const project = await client.callTool({
          name: 'lightdash_get_project',
          arguments: { projectUuid: 'p-1' },
        });
        expect(JSON.parse(firstText(project))).toMatchObject({ project: { uuid: 'p-1' } });
      });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'lists 13 tools over stdio',
    async () => {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: ['server.js', '--stdio'],
        cwd: deployPath,
        env: baseEnv(),
        stderr: 'pipe',
      });
      let stderr = '';
      transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      const client = new Client({ name: 'fixture-test', version: '0.0.0' });
      await client.connect(transport);
      try {
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name).sort()).toEqual([...ALL_TOOLS].sort());
        const result = await client.callTool({ name: 'lightdash_list_projects', arguments: {} });
        expect(JSON.parse(firstText(result))).toEqual({ projects: [{ uuid: 'p-1', name: 'Demo' }] });
      } finally {
        await client.close();
      }
      expect(stderr).toContain(`lightdash-mcp ${GOOD_VERSION}`);
      expect(stderr).not.toContain(SECRET);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'without LIGHTDASH_API_KEY /health is 503 with a reason',
    async () => {
      // An empty key in the process env wins over the .env file, so this also pins the precedence rule.
      const keyless = await startServer(deployPath, { LIGHTDASH_API_KEY: '' });
      try {
        const health = await getHealth(keyless.port);
        expect(health.status).toBe(503);
        expect(health.body).toEqual({
          status: 'unhealthy',
          version: GOOD_VERSION,
          reason: 'LIGHTDASH_API_KEY is not set',
        });
      } finally {
        await stopServer(keyless);
      }
    },
    TEST_TIMEOUT_MS,
  );

  test('logs one line per request and never the key', async () => {
    await stopServer(server);
    const { stdout, stderr } = server!.output;
    expect(stdout).toMatch(/^GET \/health 200$/m);
    expect(stdout).toMatch(/^POST \/mcp 200$/m);
    expect(stdout).not.toContain(SECRET);
    expect(stderr).not.toContain(SECRET);
  });
});

describe.each<{ mode: FailureMode }>([
  { mode: 'unhealthy' },
  { mode: 'tools-missing' },
  { mode: 'crash' },
  { mode: 'slow' },
])('bad release v1.20.2 with failureMode=$mode', ({ mode }) => {
  let deployPath = '';

  beforeAll(async () => {
    const { remote } = await createFixtureRemote({ dir: path.join(tmpRoot, `repo-${mode}`), badMode: mode });
    deployPath = path.join(tmpRoot, `deploy-${mode}`);
    await deployWorkingCopy({ remote, path: deployPath, ref: BAD_TAG, env: { LIGHTDASH_API_KEY: SECRET } });
    expect(await gitDescribe(deployPath)).toBe(BAD_TAG);
  }, SETUP_TIMEOUT_MS);

  if (mode === 'unhealthy') {
    test(
      '/health answers 503 unhealthy',
      async () => {
        const server = await startServer(deployPath);
        try {
          const health = await getHealth(server.port);
          expect(health.status).toBe(503);
          expect(health.body).toMatchObject({ status: 'unhealthy', version: BAD_VERSION });
        } finally {
          await stopServer(server);
        }
        expect(server.output.stdout).not.toContain(SECRET);
      },
      TEST_TIMEOUT_MS,
    );
  }

  if (mode === 'tools-missing') {
    test(
      'is healthy but serves only the first 8 tools',
      async () => {
        const server = await startServer(deployPath);
        try {
          expect((await getHealth(server.port)).body).toEqual({
            status: 'healthy',
            version: BAD_VERSION,
            features: { qurator: true },
          });
          const names = await withHttpClient(server.port, async (client) =>
            (await client.listTools()).tools.map((t) => t.name),
          );
          expect(names).toHaveLength(8);
          expect(names.sort()).toEqual(ALL_TOOLS.slice(0, 8).sort());
        } finally {
          await stopServer(server);
        }
      },
      TEST_TIMEOUT_MS,
    );
  }

  if (mode === 'crash') {
    test.each([[['server.js']], [['server.js', '--stdio']]])(
      'node %j exits non-zero quickly',
      async (args) => {
        const proc = spawnTracked(deployPath, args, baseEnv({ PORT: '0' }));
        const started = Date.now();
        const code = await waitExit(proc, 5_000);
        expect(code).not.toBe('timeout');
        expect(code).not.toBe(0);
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(proc.output.stderr).toMatch(/failureMode=crash/);
        expect(proc.output.stderr + proc.output.stdout).not.toContain(SECRET);
      },
      TEST_TIMEOUT_MS,
    );
  }

  if (mode === 'slow') {
    test(
      'delays every HTTP response by SLOW_MS',
      async () => {
        const server = await startServer(deployPath, { SLOW_MS: '600' });
        try {
          const health = await getHealth(server.port);
          expect(health.status).toBe(200);
          expect(health.body).toEqual({
            status: 'healthy',
            version: BAD_VERSION,
            features: { qurator: true },
          });
          expect(health.ms).toBeGreaterThanOrEqual(550);
        } finally {
          await stopServer(server);
        }
      },
      TEST_TIMEOUT_MS,
    );
  }
});
