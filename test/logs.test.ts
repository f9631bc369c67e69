/**
 * The error-log window: marks, a durable timer in the real workflow, and scans of real files and
 * of pm2's own logs of a real fixture process.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { markLogOffsets, pm2LogFiles, scanLogs } from '../src/activities/logs';
import type { RollbackClient } from '../src/client';
import type { RollbackRequest } from '../src/model';
import { gitTargetSchema, serviceChecks } from '../src/targets/kinds/git';
import { planRollback } from '../src/targets/plan';
import { errorLogSchema } from '../src/targets/validation/schema';
import { errorLogWindowSteps } from '../src/targets/validation/steps';
import { buildReleases, type Releases } from './rig/releases';
import { eventually } from './rig/eventually';
import { pm2 as runPm2, scratchRoot, waitForHttp } from './rig/sandbox';
import { connectClient, startWorker, testTaskQueue, type RunningWorker } from './rig/temporal';

const root = mkdtempSync(join(scratchRoot(), 'rb-logs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function logFile(initial = ''): string {
  const file = join(root, `app-${++n}.log`);
  writeFileSync(file, initial);
  return file;
}

async function scanFailure(
  input: Parameters<typeof scanLogs>[0],
): Promise<{ message: string; details: unknown }> {
  try {
    await scanLogs(input);
  } catch (err) {
    return { message: (err as Error).message, details: (err as { details?: unknown[] }).details?.[0] };
  }
  throw new Error('expected the scan to find error lines, it passed');
}

describe('markLogOffsets and scanLogs on files', () => {
  test('an error line written after the mark is caught with its file and line; earlier ones are not', async () => {
    const before = 'boot ok\nERROR old failure from before the rollback\n';
    const file = logFile(before);
    const mark = await markLogOffsets({ files: [file] });
    expect(mark.data.offsets[file]).toBe(Buffer.byteLength(before));
    appendFileSync(file, 'GET /health 200\nError: connect ECONNREFUSED 10.0.0.5:5432\nGET /health 200\n');
    const { message, details } = await scanFailure({
      files: mark.data.files,
      offsets: mark.data.offsets,
      patterns: ['\\berror\\b'],
    });
    expect(message).toBe(
      `1 error line in the error-log window (\\berror\\b):\n  ${file}:4: Error: connect ECONNREFUSED 10.0.0.5:5432`,
    );
    expect(details).toMatchObject({
      total: 1,
      matches: [{ file, line: 4, text: 'Error: connect ECONNREFUSED 10.0.0.5:5432', pattern: '\\berror\\b' }],
    });
  });

  test('a window with no error lines passes and says how much it read', async () => {
    const file = logFile('ERROR before the window\n');
    const mark = await markLogOffsets({ files: [file] });
    appendFileSync(file, 'GET /health 200\nGET /mcp 200\n');
    const r = await scanLogs({
      files: mark.data.files,
      offsets: mark.data.offsets,
      patterns: ['ERROR', 'FATAL'],
    });
    expect(r.summary).toBe('no error lines in the window: 29 new bytes in 1 of 1 log files');
    expect(r.data.matches).toBe(0);
  });

  test('case: patterns ignore case by default, and not when told', async () => {
    const file = logFile();
    const mark = await markLogOffsets({ files: [file] });
    appendFileSync(file, 'fatal: out of memory\n');
    expect(
      (await scanFailure({ files: [file], offsets: mark.data.offsets, patterns: ['FATAL'] })).message,
    ).toContain(`${file}:1: fatal: out of memory`);
    const strict = await scanLogs({
      files: [file],
      offsets: mark.data.offsets,
      patterns: ['FATAL'],
      ignoreCase: false,
    });
    expect(strict.data.matches).toBe(0);
  });

  test('a log rotated (truncated) during the window is read from its start; one created during it too', async () => {
    const rotated = logFile('x'.repeat(500) + '\n');
    const created = join(root, 'created-later.log');
    const mark = await markLogOffsets({ files: [rotated, created] });
    expect(mark.data.offsets).toEqual({ [rotated]: 501, [created]: 0 });
    writeFileSync(rotated, 'FATAL after rotation\n');
    writeFileSync(created, 'ok\nERROR in a new file\n');
    const { message } = await scanFailure({
      files: mark.data.files,
      offsets: mark.data.offsets,
      patterns: ['ERROR', 'FATAL'],
    });
    expect(message).toContain(`2 error lines in the error-log window`);
    expect(message).toContain(`${rotated}:1: FATAL after rotation`);
    expect(message).toContain(`${created}:2: ERROR in a new file`);
  });

  test('values of the env file are masked in the reported lines', async () => {
    const dir = mkdtempSync(join(root, 'app-'));
    writeFileSync(join(dir, '.env'), 'API_KEY=s3cr3t-value-123\n', { mode: 0o600 });
    const file = join(dir, 'app.log');
    writeFileSync(file, '');
    const mark = await markLogOffsets({ files: ['app.log'], cwd: dir });
    appendFileSync(file, 'ERROR auth failed with key s3cr3t-value-123\n');
    const { message } = await scanFailure({
      files: mark.data.files,
      offsets: mark.data.offsets,
      patterns: ['ERROR'],
      cwd: dir,
    });
    expect(message).toContain('ERROR auth failed with key [redacted]');
    expect(message).not.toContain('s3cr3t-value-123');
  });

  test('bad input is refused at once: no files, no patterns, an invalid pattern', async () => {
    await expect(markLogOffsets({ files: [] })).rejects.toThrow('names no log files');
    await expect(scanLogs({ files: [], offsets: {}, patterns: [] })).rejects.toThrow(
      'needs at least one pattern',
    );
    await expect(scanLogs({ files: [], offsets: {}, patterns: ['(unclosed'] })).rejects.toThrow(
      'invalid error-log pattern',
    );
  });
});

describe("pm2's logs of a real process", () => {
  let releases: Releases;
  const pm2Home = join(root, 'pm2');
  const name = 'lightdash_probe-error';
  let port = 0;

  const pm2 = (args: string[], env: Record<string, string> = {}) => runPm2(pm2Home, args, env);

  beforeAll(async () => {
    releases = await buildReleases('logs');
    const cwd = releases.paths['v1.31.0']!; // probe-error: lightdash_list_projects fails and logs ERROR
    // Nothing restarts it here, so it may bind any port (PORT=0) and name it in its pm2 log.
    pm2(['start', join(cwd, 'server.js'), '--name', name, '--cwd', cwd, '--time'], { PORT: '0' });
    const [out] = pm2LogFiles(name, pm2Home);
    port = await eventually(
      'the pm2 process to log the port it listens on',
      () => Number(/listening on http:\/\/127\.0\.0\.1:(\d+) /.exec(readFileSync(out!, 'utf8'))?.[1]),
      20_000,
    );
    await waitForHttp(`http://127.0.0.1:${port}/health`);
  }, 120_000);

  afterAll(() => {
    pm2(['kill']);
    releases?.cleanup();
  });

  async function callTool(tool: string) {
    const client = new Client({ name: 'test', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
    try {
      return await client.callTool({ name: tool, arguments: {} });
    } finally {
      await client.close();
    }
  }

  /** pm2 writes a process's output to its log files a moment after the process wrote it. */
  async function settle(file: string, text: string) {
    await eventually(`${text} in ${file}`, () => readFileSync(file, 'utf8').includes(text), 5000, 50);
  }

  test('pm2: true watches NAME-out.log and NAME-error.log under PM2_HOME, with pm2 name mangling', async () => {
    const [out, err] = pm2LogFiles(name, pm2Home);
    expect(out).toBe(join(pm2Home, 'logs', 'lightdash-probe-error-out.log'));
    expect(err).toBe(join(pm2Home, 'logs', 'lightdash-probe-error-error.log'));
    const mark = await markLogOffsets({ pm2: { name, pm2Home } });
    expect(mark.data.files).toEqual([out, err]);
    // Healthy traffic only: the window passes.
    await callTool('lightdash_get_metadata');
    await settle(out!, 'POST /mcp 200');
    const clean = await scanLogs({ files: mark.data.files, offsets: mark.data.offsets, patterns: ['ERROR'] });
    expect(clean.data.matches).toBe(0);
  });

  test('an error the service logs during the window is caught in its pm2 error log', async () => {
    const mark = await markLogOffsets({ pm2: { name, pm2Home } });
    const result = await callTool('lightdash_list_projects');
    expect(result.isError).toBe(true);
    const [, errLog] = pm2LogFiles(name, pm2Home);
    await settle(errLog!, 'ERROR lightdash_list_projects failed');
    const { message } = await scanFailure({
      files: mark.data.files,
      offsets: mark.data.offsets,
      patterns: ['\\bERROR\\b'],
    });
    expect(message).toMatch(
      new RegExp(
        `^1 error line in the error-log window .*\\n  ${errLog!.replace(/[.]/g, '\\.')}:\\d+: .*lightdash-mcp: ERROR lightdash_list_projects failed: upstream Lightdash API answered 500$`,
      ),
    );
  });
});

describe('the error-log window as plan steps, run by the real workflow with a durable timer', () => {
  const taskQueue = testTaskQueue('logs');
  let worker: RunningWorker;
  let client: RollbackClient;
  const deployPath = join(root, 'srv');
  const target = gitTargetSchema.parse({
    deploy: { type: 'git', path: deployPath, stableVersion: 'v1.11.4' },
    service: { manager: 'command', start: ['true'], stop: ['true'], status: ['true'] },
    backupDir: join(root, 'backups'),
    reportsDir: join(root, 'reports'),
  });

  beforeAll(async () => {
    worker = await startWorker(taskQueue);
    client = await connectClient(taskQueue);
  });
  afterAll(async () => {
    await client?.close();
    await worker?.stop();
  });

  test('errorLogWindowSteps: mark, wait, scan, the scan reading the mark by reference', () => {
    const config = errorLogSchema.parse({ files: ['logs/app.log'], windowSeconds: 900 });
    const steps = errorLogWindowSteps(config, serviceChecks(target));
    expect(steps.map((s) => [s.id, s.activity, s.retry])).toEqual([
      ['error-log-mark', 'markLogOffsets', 'quick'],
      ['error-log-window', 'wait', 'record'],
      ['validate-error-log', 'scanLogs', 'validate'],
    ]);
    expect(steps[1]!.input).toEqual({ seconds: 900 });
    expect(steps[1]!.title).toBe('Watch the logs for 15 min');
    expect(steps[2]!.input).toMatchObject({
      files: { $ref: 'error-log-mark.files' },
      offsets: { $ref: 'error-log-mark.offsets' },
      patterns: ['\\bERROR\\b', '\\bFATAL\\b', 'Unhandled', 'uncaught exception'],
      redactEnvFiles: ['.env'],
      cwd: deployPath,
    });
    expect(() =>
      errorLogWindowSteps(errorLogSchema.parse({ pm2: true, windowSeconds: 5 }), serviceChecks(target)),
    ).toThrow('validate.errorLog.pm2 needs service.manager pm2');
    expect(errorLogSchema.safeParse({ windowSeconds: 5 }).success).toBe(false);
  });

  async function runWindow(file: string, during?: () => void) {
    const request: RollbackRequest = {
      rollbackId: `logs-${Date.now()}`,
      target: 'logs-target',
      kind: 'emergency',
      reason: 'error-log window test',
      requestedBy: 'alice',
      requestedAt: new Date().toISOString(),
    };
    const config = errorLogSchema.parse({ files: [file], windowSeconds: 3, patterns: ['ERROR'] });
    const plan = {
      ...planRollback(target, request),
      steps: errorLogWindowSteps(config, serviceChecks(target)),
    };
    const started = await client.start(request, plan);
    // Write while the workflow sleeps on its timer, as a service would during the window.
    await eventually(
      'the error-log window to open',
      async () =>
        (await client.progress(started.workflowId, started.runId)).steps.find(
          (s) => s.id === 'error-log-window',
        )?.state === 'running',
    );
    during?.();
    return client.result(started.workflowId, started.runId);
  }

  test('an error line written during the window fails the rollback at validate-error-log, naming file and line', async () => {
    const file = logFile('ERROR written before the window\n');
    const t0 = Date.now();
    const r = await runWindow(file, () =>
      appendFileSync(file, 'GET /health 200\nERROR upstream 500 on /api/v1/projects\n'),
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    expect(r.ok).toBe(false);
    expect(r.error).toContain('failed at step "Check for error lines written in the 3 s window"');
    expect(r.error).toContain(`${file}:3: ERROR upstream 500 on /api/v1/projects`);
    const steps = r.record!.steps;
    expect(steps.find((s) => s.id === 'error-log-window')).toMatchObject({
      state: 'succeeded',
      summary: 'waited 3 s',
    });
    // Not retried: the same window scanned again holds the same lines.
    expect(r.record!.failure).toMatchObject({ stepId: 'validate-error-log', type: 'ErrorLogMatches' });
    expect(steps.find((s) => s.id === 'validate-error-log')).toMatchObject({
      state: 'failed',
      attempts: 1,
      errorType: 'ErrorLogMatches',
    });
  });

  test('a window with no error lines passes', async () => {
    const file = logFile('ERROR written before the window\n');
    const r = await runWindow(file, () => appendFileSync(file, 'GET /health 200\n'));
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.record!.steps.find((s) => s.id === 'validate-error-log')).toMatchObject({
      state: 'succeeded',
      summary: 'no error lines in the window: 16 new bytes in 1 of 1 log files',
    });
  });
});
