import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RollbackClient } from '../src/client';
import type { RollbackRequest } from '../src/model';
import { getTarget, parseConfig } from '../src/targets/load';
import { planRollback } from '../src/targets/plan';
import { commandTarget } from './rig/configs';
import { runCli, type CliResult } from './rig/rollback';
import { connectClient, testTaskQueue } from './rig/temporal';

/**
 * The `rollback` command's contract, through the real command against the real server: with --json
 * every error is exactly one JSON object on stdout; one mistake gets one exit code on every command;
 * a malformed id, an address that is not Temporal and text with control characters are named and
 * refused before anything happens; --help marks required options and loads no heavy module.
 */
const root = mkdtempSync(join(tmpdir(), 'rb-contract-'));
const taskQueue = testTaskQueue('contract'); // nobody polls it
let client: RollbackClient;

beforeAll(async () => {
  client = await connectClient(taskQueue);
});
afterAll(async () => {
  await client.close();
  rmSync(root, { recursive: true, force: true });
});

/** The one JSON object a --json run printed; fails when stdout holds anything else. */
function jsonError(r: CliResult): { ok: boolean; error: string; exitCode: number } {
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as { ok: boolean; error: string; exitCode: number };
}

function config(target: string): string {
  const file = join(root, `${target}.yaml`);
  writeFileSync(
    file,
    stringify({
      version: 1,
      targets: {
        [target]: commandTarget(target, root, root),
      },
    }),
  );
  return file;
}

async function expectNoRollback(target: string) {
  await expect(client.describe(`rollback-${target}`)).rejects.toThrow(/not found/i);
}

describe('with --json, every error is one JSON object on stdout', () => {
  test.each([
    ['an unknown option', ['status', 'rollback-x', '--json', '--bogus'], "unknown option '--bogus'"],
    ['a missing argument', ['status', '--json'], "missing required argument 'id'"],
    [
      'a missing required option',
      ['plan', 'emergency', '--json'],
      "required option '-t, --target <name>' not specified",
    ],
    [
      'neither a target nor a group',
      ['start', 'emergency', '--reason', 'x', '--json'],
      'give --target NAME (one target) or --group NAME (a group of targets), not both',
    ],
    ['an unknown command', ['frobnicate', '--json'], "unknown command 'frobnicate'"],
    [
      'a bad option value',
      ['list', '--limit', 'none', '--json'],
      '--limit must be a whole number above 0, not "none"',
    ],
  ])('%s', async (_what, args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(jsonError(r)).toEqual({ ok: false, error: expect.stringContaining(message), exitCode: 2 });
  });
});

describe('the same mistake gets the same exit code on every command', () => {
  const id = `rollback-nope-${Date.now()}`;
  test.each([
    ['status', [id]],
    ['watch', [id]],
    ['cancel', [id]],
    ['approve', [id, '--as', 'carol']],
    ['reject', [id, '--as', 'carol', '--reason', 'fix forward']],
    ['decide', [id, 'retry', '--as', 'carol']],
  ])('an unknown id exits 2 on %s, naming the id', async (cmd, args) => {
    const r = await runCli([cmd, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no rollback with id ${id}; see "rollback list"`);
    const json = await runCli([cmd, ...args, '--json']);
    expect(jsonError(json)).toMatchObject({ ok: false, exitCode: 2, error: expect.stringContaining(id) });
  });

  test.each([
    ['', 'the rollback id is empty'],
    ['rollback-', 'the rollback id "rollback-" names no target'],
    ['  ', 'the rollback id "  " holds spaces'],
    ['rollback-a b', 'the rollback id "rollback-a b" holds spaces'],
    ['rollback-x@', 'the rollback id "rollback-x@" has "@" but no run id'],
    ['@0193a1b2-0000-7000-8000-000000000000', 'names no workflow before "@"'],
    ['rollback-x@latest', 'the run id "latest" in "rollback-x@latest" is not a run id'],
  ])('a malformed id %j is named, and nothing connects', async (id, message) => {
    // Nothing listens at this address: a connection attempt would fail with exit 1 instead.
    for (const cmd of [
      ['status', id],
      ['cancel', id],
      ['approve', id, '--as', 'carol'],
    ]) {
      const r = await runCli(['--address', '127.0.0.1:1', ...cmd]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });
});

describe('the server address', () => {
  let web: Server;
  let port: number;
  beforeAll(async () => {
    web = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>'),
    );
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    port = (web.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => web.close(() => r())));

  test('a web server where Temporal should be is named, at once, as not a Temporal frontend', async () => {
    const started = Date.now();
    const r = await runCli(['status', 'rollback-x', '--address', `127.0.0.1:${port}`]);
    // The connect deadline is 5 s; the probe answers long before (well under the old 30 s wait).
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`127.0.0.1:${port} accepts connections but is not a Temporal frontend`);
    const json = await runCli(['list', '--json', '--address', `127.0.0.1:${port}`]);
    expect(jsonError(json)).toMatchObject({
      exitCode: 2,
      error: expect.stringContaining(`127.0.0.1:${port}`),
    });
  });

  test('a closed port is named as a server that is not running (exit 1), and a malformed address as input (exit 2)', async () => {
    const closed = createTcpServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const r = await runCli(['list', '--address', `127.0.0.1:${closedPort}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reach 127.0.0.1:${closedPort}: connection refused`);
    const bad = await runCli(['list', '--address', 'localhost']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--address "localhost" is not HOST:PORT');
  });
});

describe('--help', () => {
  test('marks the required options', async () => {
    const start = await runCli(['start', '--help']);
    expect(start.code).toBe(0);
    const line = (flag: string, text: string) =>
      text.split('\n').find((l) => l.trimStart().startsWith(flag)) ?? '';
    // One of --target and --group: neither is required on its own, the help says which.
    expect(line('-t, --target', start.stdout)).toContain('give this or --group');
    expect(start.stdout).toMatch(/-r, --reason <text>[\s\S]*?\(required\)/);
    expect(line('--to <version>', start.stdout)).not.toContain('(required)');
    const reject = await runCli(['reject', '--help']);
    expect(reject.stdout).toMatch(/--reason <text>[\s\S]*?\(required\)/);
  });
});

describe('text people type', () => {
  test.each([
    [
      '--reason',
      ['--reason', 'v1.20.2 broke\n  approved by carol'],
      '--reason holds a control character (U+000A',
    ],
    ['--impact', ['--reason', 'ok', '--impact', 'x'.repeat(501)], '--impact is 501 characters long'],
    ['--as', ['--reason', 'ok', '--as', 'carol\u001b[2J'], '--as holds a control character (U+001B'],
  ])(
    'start refuses a %s with control characters or over its limit, and starts nothing',
    async (_o, args, message) => {
      const target = `text-${Math.random().toString(36).slice(2, 8)}`;
      const file = config(target);
      const r = await runCli([
        '--config',
        file,
        'start',
        'emergency',
        '--target',
        target,
        '--task-queue',
        taskQueue,
        ...args,
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
      await expectNoRollback(target);
    },
  );

  test('approve, reject and decide refuse them too, before looking the rollback up', async () => {
    const id = 'rollback-whatever';
    for (const [args, message] of [
      [['approve', id, '--comment', 'ok\u001b[31m'], '--comment holds a control character'],
      [['reject', id, '--reason', 'no\nreally'], '--reason holds a control character'],
      [['decide', id, 'skip', '--as', 'x'.repeat(65)], '--as is 65 characters long'],
    ] as const) {
      const r = await runCli(['--address', '127.0.0.1:1', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });
});

describe('start-up', () => {
  const trace = join(root, 'trace.js');
  beforeAll(() => {
    // Preloaded into the CLI: lists the packages it loaded, on exit.
    writeFileSync(
      trace,
      `const Module = require('module'); const seen = new Set(); const load = Module._load;
       Module._load = function (request, parent, isMain) {
         try { const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(Module._resolveFilename(request, parent, isMain)); if (m) seen.add(m[1]); } catch {}
         return load.apply(this, arguments);
       };
       process.on('exit', () => process.stderr.write('\\nLOADED ' + [...seen].join(' ') + '\\n'));`,
    );
  });
  const loaded = (r: CliResult) => (/LOADED (.*)/.exec(r.stderr)?.[1] ?? '').split(' ');

  test('rollback --help loads neither the Temporal client nor zod, yaml, the worker SDK or the AWS SDK', async () => {
    const r = await runCli(['--help'], {}, ['--require', trace]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: rollback');
    const packages = loaded(r);
    expect(packages).toContain('commander');
    for (const heavy of ['@temporalio/client', '@temporalio/worker', 'zod', 'yaml'])
      expect(packages).not.toContain(heavy);
    expect(packages.filter((p) => p.startsWith('@aws-sdk/'))).toEqual([]);
  });

  test('rollback status of a git target loads neither the worker SDK nor the AWS SDK', async () => {
    const target = `lazy-${Math.random().toString(36).slice(2, 8)}`;
    const text = stringify({
      version: 1,
      targets: {
        [target]: {
          deploy: { type: 'git', path: root, stableVersion: 'v1.11.4' },
          service: { manager: 'command', start: ['true'], stop: ['true'], status: ['true'] },
          backupDir: join(root, 'b'),
          reportsDir: join(root, 'r'),
          validate: { health: { url: 'http://127.0.0.1:9/health' } },
        },
      },
    });
    const parsed = parseConfig(text, 'inline.yaml');
    const request: RollbackRequest = {
      rollbackId: `${target}-1`,
      target,
      kind: 'emergency',
      reason: 'lazy loading',
      requestedBy: 'alice',
      requestedAt: new Date().toISOString(),
    };
    const plan = planRollback(getTarget({ file: 'inline.yaml', config: parsed }, target), request, parsed);
    const started = await client.start(request, plan);
    try {
      const r = await runCli(['status', started.workflowId], {}, ['--require', trace]);
      expect(r.stdout).toContain(`emergency rollback of ${target}`);
      const packages = loaded(r);
      expect(packages).toContain('@temporalio/client');
      expect(packages).not.toContain('@temporalio/worker');
      expect(packages.filter((p) => p.startsWith('@aws-sdk/'))).toEqual([]);
    } finally {
      await client.client.workflow.getHandle(started.workflowId).terminate('test over');
    }
  });
});

describe('rollback config schema', () => {
  test('prints the whole JSON Schema (past 64 KiB of piped output): a target is one of the kinds, told by deploy.type', async () => {
    const r = await runCli(['config', 'schema']);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(65_536);
    const schema = JSON.parse(r.stdout) as {
      $schema: string;
      properties: {
        targets: {
          additionalProperties: {
            anyOf: { properties: { deploy: { properties: { type: { const: string } } } } }[];
          };
        };
      };
    };
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(
      schema.properties.targets.additionalProperties.anyOf.map(
        (k) => k.properties.deploy.properties.type.const,
      ),
    ).toEqual(['git', 'npm-package', 'blue-green', 'container', 'ecs']);
  });
});
