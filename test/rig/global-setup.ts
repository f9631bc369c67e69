import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';

declare global {
  var __ROLLBACK_TEST_SERVER__: DevServer | undefined;
  var __ROLLBACK_TEST_ROOT__: string | undefined;
}

/**
 * One real Temporal dev server (SQLite in the run's own folder) for the whole run, and one workflow
 * bundle that every test worker loads, instead of bundling per test. Sandboxes live in the same
 * folder, so globalTeardown can sweep whatever a crashed test left running.
 */
export default async function globalSetup(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'rollback-test-'));
  globalThis.__ROLLBACK_TEST_ROOT__ = root;
  const started = Date.now();
  let server: DevServer | undefined;
  try {
    server = await startDevServer({ dbFile: join(root, 'temporal.sqlite'), headless: true });
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
  } catch (err) {
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  process.stderr.write(
    `\n[rig] Temporal dev server ${server.address}, workflow bundle ready, in ${Date.now() - started} ms\n`,
  );
}
