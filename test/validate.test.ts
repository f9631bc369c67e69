/**
 * Post-rollback validation against real fixture servers: the official MCP client over Streamable
 * HTTP and stdio, real health polling and real latency samples.
 */
import { checkHealth, checkLatency, checkMcp, type McpCheckInput } from '../src/activities/validate';
import { eventually } from './rig/eventually';
import { BAD_TAG, GOOD_TAG, GOOD_VERSION } from './rig/fixture-repo';
import { reservePort } from './rig/ports';
import {
  ALL_TOOLS,
  buildReleases,
  startFixtureServer,
  type FixtureServer,
  type Releases,
} from './rig/releases';

let releases: Releases;
const servers: FixtureServer[] = [];
let good: FixtureServer;

async function serve(tag: string, env: Record<string, string> = {}): Promise<FixtureServer> {
  const s = await startFixtureServer(releases.paths[tag]!, env);
  servers.push(s);
  return s;
}

function stdioInput(tag: string, extra: Partial<McpCheckInput> = {}): McpCheckInput {
  return {
    transport: 'stdio',
    command: ['node', 'server.js', '--stdio'],
    cwd: releases.paths[tag]!,
    ...extra,
  };
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the check to fail, it passed');
}

const countLines = (text: string, line: string) => text.split('\n').filter((l) => l === line).length;

/** The server logs a request when its response has finished: a moment after the client has it. */
async function logged(server: FixtureServer, line: string, atLeast: number): Promise<number> {
  await eventually(
    `${atLeast} "${line}" lines in the server's log`,
    () => countLines(server.stdout(), line) >= atLeast,
    2000,
    20,
  );
  return countLines(server.stdout(), line);
}

beforeAll(async () => {
  releases = await buildReleases('validate');
  good = await serve(GOOD_TAG);
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  releases?.cleanup();
});

describe('MCP validation with the official client', () => {
  test('the good release passes over HTTP: 13 tools by name, probes with their result shapes, the version', async () => {
    const r = await checkMcp({
      transport: 'http',
      url: `${good.url}/mcp`,
      expectedTools: 13,
      toolNames: ALL_TOOLS,
      probe: { tool: 'lightdash_list_projects', arguments: {}, expect: { json: true, keys: ['projects'] } },
      probes: [
        {
          tool: 'lightdash_get_project',
          arguments: { projectUuid: 'p-1' },
          expect: { keys: ['project'], textIncludes: '"uuid":"p-1"' },
        },
      ],
      expectedVersion: GOOD_TAG,
    });
    expect(r.data).toMatchObject({
      transport: 'http',
      tools: 13,
      serverName: 'lightdash-mcp',
      serverVersion: GOOD_VERSION,
      probe: 'lightdash_list_projects',
      probes: [
        { tool: 'lightdash_list_projects', ok: true },
        { tool: 'lightdash_get_project', ok: true },
      ],
    });
    expect([...r.data.toolNames].sort()).toEqual([...ALL_TOOLS].sort());
    expect(r.summary).toBe(
      '13 tools over http, probes ok: lightdash_list_projects, lightdash_get_project, server lightdash-mcp 1.11.4',
    );
    // The requests really reached the server: initialize, tools/list and two calls, all POST /mcp.
    expect(await logged(good, 'POST /mcp 200', 4)).toBeGreaterThanOrEqual(4);
  });

  test('the good release passes over stdio, and the configured env reaches the server process', async () => {
    const r = await checkMcp(
      stdioInput(GOOD_TAG, {
        env: { MCP_INSTANCE_NAME: 'stdio-validation' },
        expectedTools: 13,
        toolNames: ALL_TOOLS,
        probes: [
          { tool: 'lightdash_list_projects', expect: { keys: ['projects'] } },
          { tool: 'lightdash_get_metadata', expect: { textIncludes: '"instance":"stdio-validation"' } },
        ],
        expectedVersion: GOOD_VERSION,
      }),
    );
    expect(r.data).toMatchObject({ transport: 'stdio', tools: 13, serverVersion: GOOD_VERSION });
    expect(r.data.probes).toEqual([
      { tool: 'lightdash_list_projects', ok: true },
      { tool: 'lightdash_get_metadata', ok: true },
    ]);
  });

  test('missing tools: the count and a diff naming each missing tool', async () => {
    const s = await serve('v1.30.0');
    const msg = await failure(
      checkMcp({ transport: 'http', url: `${s.url}/mcp`, expectedTools: 13, toolNames: ALL_TOOLS }),
    );
    expect(msg).toBe(
      `MCP check (${s.url}/mcp): expected 13 tools, found 8; missing tools (5): lightdash_get_charts_as_code, ` +
        'lightdash_get_dashboards_as_code, lightdash_get_metadata, lightdash_get_analytics, lightdash_get_user_attributes',
    );
    // Over stdio the same release fails the same way.
    const stdio = await failure(checkMcp(stdioInput('v1.30.0', { toolNames: ALL_TOOLS })));
    expect(stdio).toContain(
      'MCP check (stdio: node server.js --stdio): missing tools (5): lightdash_get_charts_as_code',
    );
  });

  test('unexpected tools are named apart from missing ones', async () => {
    const expected = [...ALL_TOOLS.filter((n) => n !== 'lightdash_get_analytics'), 'lightdash_export_all'];
    const msg = await failure(checkMcp({ transport: 'http', url: `${good.url}/mcp`, toolNames: expected }));
    expect(msg).toBe(
      `MCP check (${good.url}/mcp): missing tools (1): lightdash_export_all; unexpected tools (1): lightdash_get_analytics`,
    );
  });

  test('a wrong tool count alone lists what the server offers', async () => {
    const msg = await failure(checkMcp({ transport: 'http', url: `${good.url}/mcp`, expectedTools: 12 }));
    expect(msg).toMatch(/^MCP check \(.*\/mcp\): expected 12 tools, found 13 \(lightdash_get_analytics, /);
  });

  test('a probe call that errors names the tool and the error it returned', async () => {
    const s = await serve('v1.31.0');
    const msg = await failure(
      checkMcp({
        transport: 'http',
        url: `${s.url}/mcp`,
        expectedTools: 13,
        probe: { tool: 'lightdash_list_projects', arguments: {} },
      }),
    );
    expect(msg).toBe(
      `MCP check (${s.url}/mcp): probe lightdash_list_projects returned an error: ` +
        'upstream Lightdash API answered 500 for GET /api/v1/org/projects',
    );
  });

  test('a probe whose result has the wrong shape, or is for a tool the server lacks, is named', async () => {
    const msg = await failure(
      checkMcp({
        transport: 'http',
        url: `${good.url}/mcp`,
        probes: [
          { tool: 'lightdash_list_projects', expect: { keys: ['projects', 'total'] } },
          { tool: 'lightdash_get_user_attributes', expect: { textIncludes: 'region-xyz' } },
          { tool: 'lightdash_export_all' },
        ],
      }),
    );
    expect(msg).toContain('probe lightdash_list_projects: the result lacks key total (has: projects)');
    expect(msg).toContain('probe lightdash_get_user_attributes: the text does not contain "region-xyz"');
    expect(msg).toContain('probe lightdash_export_all: the server does not offer this tool');
  });

  test("the server's reported version is checked", async () => {
    const msg = await failure(
      checkMcp({ transport: 'http', url: `${good.url}/mcp`, expectedVersion: BAD_TAG }),
    );
    expect(msg).toBe(
      `MCP check (${good.url}/mcp): the server reports version ${GOOD_VERSION}, expected ${BAD_TAG}`,
    );
  });

  test('a stdio server that does not start: the message says so and ends with its stderr', async () => {
    const msg = await failure(checkMcp(stdioInput('v1.32.0', { expectedTools: 13 })));
    expect(msg).toContain(
      'MCP check (stdio: node server.js --stdio) failed: the server did not start or did not answer initialize',
    );
    expect(msg).toContain(
      'its stderr ends with:\nlightdash-mcp: fatal: release 1.32.0 failed to start (failureMode=crash)',
    );
  });

  test('a stdio server whose stderr holds a value of its .env: the value is masked in the message', async () => {
    const msg = await failure(
      checkMcp({
        transport: 'stdio',
        command: [
          'node',
          '-e',
          'console.error("boot failed; env was " + require("fs").readFileSync(".env", "utf8")); process.exit(3)',
        ],
        cwd: releases.paths[GOOD_TAG]!,
      }),
    );
    expect(msg).toContain('boot failed; env was LIGHTDASH_API_KEY=[redacted]');
    expect(msg).not.toContain(releases.secret);
  });

  test('an HTTP server that is not there: cannot connect, with the cause', async () => {
    // A reserved port: free, and out of the range where other processes' ports land.
    const nobody = await reservePort();
    const url = `http://127.0.0.1:${nobody.port}/mcp`;
    const msg = await failure(checkMcp({ transport: 'http', url, expectedTools: 13 })).finally(
      nobody.release,
    );
    expect(msg).toMatch(
      new RegExp(
        `^MCP check \\(${url.replace(/[.]/g, '\\.')}\\) failed: cannot connect to the server: .*ECONNREFUSED`,
      ),
    );
  });
});

describe('health and latency', () => {
  test('checkHealth polls until a warming-up service turns healthy, without a fixed sleep', async () => {
    const s = await serve('v1.34.0', { WARMUP_MS: '1500' });
    const r = await checkHealth({ url: `${s.url}/health`, expectedVersion: 'v1.34.0', timeoutSeconds: 20 });
    expect(r.data.status).toBe('healthy');
    expect(r.data.version).toBe('1.34.0');
    // It answered once the service did (warm-up 1.5 s, polls every 0.5 s), long before the 20 s
    // deadline (the bound is loose: a loaded machine may be slow, but not by half the deadline).
    expect(r.data.waitedMs).toBeLessThan(10_000);
    expect(await logged(s, 'GET /health 503', 1)).toBeGreaterThanOrEqual(1);
    expect(await logged(s, 'GET /health 200', 1)).toBeGreaterThanOrEqual(1);
  });

  test('checkHealth fails at its deadline naming the status and the reason, or the wrong version', async () => {
    const bad = await serve(BAD_TAG);
    const t0 = Date.now();
    const msg = await failure(checkHealth({ url: `${bad.url}/health`, timeoutSeconds: 1 }));
    expect(msg).toBe(
      `health check ${bad.url}/health failed after 1 s: HTTP 503 unhealthy (release is marked unhealthy)`,
    );
    // It gave up at its 1 s deadline, not at some longer default (loose bound for a loaded machine).
    expect(Date.now() - t0).toBeLessThan(10_000);
    const wrong = await failure(
      checkHealth({ url: `${good.url}/health`, expectedVersion: BAD_TAG, timeoutSeconds: 1 }),
    );
    expect(wrong).toContain(`healthy but version ${GOOD_VERSION}, expected ${BAD_TAG}`);
  });

  test('latency figures come from real requests: N samples, average, p95 and max', async () => {
    // A server of its own, so every request it logs is one of the samples (+ the rig's readiness probe).
    const s = await serve(GOOD_TAG);
    const before = await logged(s, 'GET /health 200', 1);
    const r = await checkLatency({ url: `${s.url}/health`, samples: 8, maxAverageMs: 2000 });
    expect(r.data.samples).toBe(8);
    expect((await logged(s, 'GET /health 200', before + 8)) - before).toBe(8);
    expect(r.data.averageMs).toBeGreaterThan(0);
    expect(r.data.p95Ms).toBeGreaterThanOrEqual(r.data.averageMs * 0.5);
    expect(r.data.maxMs).toBeGreaterThanOrEqual(r.data.p95Ms);
    expect(r.summary).toMatch(/^average [\d.]+ ms, p95 [\d.]+ ms, max [\d.]+ ms over 8 requests$/);
  });

  test("the fixture's slow mode fails the average budget, and the p95 budget", async () => {
    const slow = await serve('v1.33.0', { SLOW_MS: '250' });
    const avg = await failure(checkLatency({ url: `${slow.url}/health`, samples: 4, maxAverageMs: 200 }));
    expect(avg).toMatch(
      /^latency over budget: average (\d+\.?\d*) ms, p95 .* over 4 requests \(average budget 200 ms\)$/,
    );
    expect(Number(/average ([\d.]+) ms/.exec(avg)![1])).toBeGreaterThanOrEqual(250);
    const p95 = await failure(
      checkLatency({ url: `${slow.url}/health`, samples: 3, maxAverageMs: 5000, maxP95Ms: 100 }),
    );
    expect(p95).toMatch(/\(p95 budget 100 ms\)$/);
  });
});
