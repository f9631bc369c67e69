import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';

declare global {
  var __ROLLBACK_TEST_SERVER__: DevServer | undefined;
}

/**
 * One real Temporal dev server (SQLite in a temporary folder, free ports) for the whole run, and
 * one workflow bundle that every test worker loads, instead of bundling per test.
 */
export default async function globalSetup(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'rollback-test-'));
  const started = Date.now();
  const server = await startDevServer({ dbFile: join(root, 'temporal.sqlite'), headless: true });
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: {
      info: () => undefined,
      warn: () => undefined,
      error: console.error,
      debug: () => undefined,
      trace: () => undefined,
      log: () => undefined,
    },
  });
  const bundlePath = join(root, 'workflow-bundle.js');
  writeFileSync(bundlePath, code);
  globalThis.__ROLLBACK_TEST_SERVER__ = server;
  // Jest starts its test workers after this, so they inherit these.
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.TEMPORAL_NAMESPACE = server.namespace;
  process.env.ROLLBACK_WORKFLOW_BUNDLE = bundlePath;
  process.env.ROLLBACK_TEST_ROOT = root;
  process.stderr.write(
    `\n[rig] Temporal dev server ${server.address}, workflow bundle ready, in ${Date.now() - started} ms\n`,
  );
}
