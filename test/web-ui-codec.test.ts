import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { freePort, startDevServer, type DevServer } from '../src/temporal/dev-server';
import { Cleanup } from './rig/cleanup';
import { commandRollback } from './rig/configs';
import { eventually } from './rig/eventually';
import { createFakeActivities } from './rig/fake-activities';
import { ROOT } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';
import { connectClient, startWorker, testTaskQueue } from './rig/temporal';
import { installedTool, stopChild } from './rig/tools';

/**
 * The Web UI shows an encrypted rollback's history decoded, through `rollback codec-server`: a dev
 * server with its Web UI pointed at the codec server (--ui-codec-endpoint), a worker and client
 * with the key, and a real Chromium (headless, playwright-core) reading the workflow's page. The
 * steps are fakes; Temporal, the Web UI, the codec server and the browser are real.
 * SCREENSHOT_OUT=path keeps the screenshot (the README's picture comes from here).
 */

const cleanup = new Cleanup();
const root = mkdtempSync(join(scratchRoot(), 'rb-web-ui-'));
const key = `k1:${randomBytes(32).toString('base64')}`;
const savedKeys = process.env.ROLLBACK_CODEC_KEYS;
let server: DevServer;
let codecUrl: string;
let browser: Browser;

beforeAll(async () => {
  cleanup.add('the folder', () => rmSync(root, { recursive: true, force: true }));
  cleanup.add('the keys variable', () => {
    if (savedKeys === undefined) delete process.env.ROLLBACK_CODEC_KEYS;
    else process.env.ROLLBACK_CODEC_KEYS = savedKeys;
  });
  // The Web UI's port first: the codec server lets only that origin call it.
  const uiPort = await freePort();
  const codec = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'rollback.js'),
      'codec-server',
      '--port',
      '0',
      '--origin',
      `http://127.0.0.1:${uiPort}`,
    ],
    { env: { ...process.env, ROLLBACK_CODEC_KEYS: key }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  cleanup.add('the codec server', () => stopChild(codec));
  let stderr = '';
  codec.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  codecUrl = await eventually(
    'the codec server listens',
    () => /listening on (http:\/\/\S+)/.exec(stderr)?.[1],
  );
  server = await startDevServer({ uiPort, uiCodecEndpoint: codecUrl });
  cleanup.add('the dev server', () => server.stop());
  const tool = installedTool('install-chromium.sh');
  const ldPath = tool('LD_PATH');
  browser = await chromium.launch({
    executablePath: tool('CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    env: { ...process.env, ...(ldPath ? { LD_LIBRARY_PATH: ldPath } : {}) } as Record<string, string>,
  });
  cleanup.add('the browser', () => browser.close());
}, 120_000);

afterAll(() => cleanup.run());

test("the Web UI shows an encrypted rollback's history decoded through the codec server", async () => {
  const queue = testTaskQueue('web-ui');
  const reason = `reason-canary-${randomBytes(6).toString('hex')}`;
  process.env.ROLLBACK_CODEC_KEYS = key;
  const worker = await startWorker(queue, server.address, createFakeActivities());
  const client = await connectClient(queue, server.address);
  delete process.env.ROLLBACK_CODEC_KEYS;
  cleanup.add('the worker', () => worker.stop());
  cleanup.add('the client', () => client.close());
  const deployPath = join(root, 'srv');
  mkdirSync(deployPath);
  const { request, plan } = commandRollback('web-ui-target', deployPath, root, { request: { reason } });
  const started = await client.start(request, plan);
  expect((await client.result(started.workflowId, started.runId)).record).toMatchObject({ reason });

  // What the server holds is encrypted: the raw history has no reason text.
  const raw = await client.client.workflow.getHandle(started.workflowId).fetchHistory();
  expect(JSON.stringify(raw)).not.toContain(reason);

  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  cleanup.add('the page', () => page.close());
  // The codec server's answers to the browser (the UI adds a query, ?preserveStorageRefs=true).
  const decodes: number[] = [];
  page.on('response', (r) => {
    const url = new URL(r.url());
    if (url.origin === new URL(codecUrl).origin && url.pathname === '/decode') decodes.push(r.status());
  });
  await page.goto(
    `${server.uiUrl}/namespaces/default/workflows/${started.workflowId}/${started.runId}/history`,
    { waitUntil: 'domcontentloaded' },
  );
  // The input (the request, with its reason) is shown decoded: the browser asked the codec server.
  await page.getByText(reason).first().waitFor({ timeout: 60_000 });
  expect(decodes.length).toBeGreaterThan(0);
  expect(decodes.every((status) => status === 200)).toBe(true);
  const shot = join(root, 'web-ui-codec.png');
  await page.screenshot({ path: shot, fullPage: false });
  expect(statSync(shot).size).toBeGreaterThan(10_000);
  if (process.env.SCREENSHOT_OUT) copyFileSync(shot, process.env.SCREENSHOT_OUT);
});
