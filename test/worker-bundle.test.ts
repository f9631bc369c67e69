import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { entryPoint } from '../bin/entry-point';
import { builtBundle } from '../src/worker';
import { Cleanup } from './rig/cleanup';
import { commandRollback } from './rig/configs';
import { eventually } from './rig/eventually';
import { ROOT } from './rig/rollback';
import { scratchRoot } from './rig/sandbox';
import { connectClient, testTaskQueue } from './rig/temporal';
import { killHard, spawnCliWorker } from './rig/worker-process';

/**
 * `npm run build` bundles the workflows once (scripts/bundle-workflows.ts → dist/workflow-bundle.js)
 * and `rollback worker` run from the build uses that bundle instead of running webpack at every
 * start (bench: 1.2 s to polling instead of 2.8 s, ~200 MB instead of ~280 MB). The real command,
 * the real dev server; the bundle is the build's own.
 */

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

beforeAll(() => {
  // CI's setup builds; a working copy with newer sources is built here, as bin/rollback.js would
  // otherwise run the sources (which have no bundle).
  if (!entryPoint().path || !existsSync(join(ROOT, 'dist', 'workflow-bundle.js'))) {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
}, 180_000);

test('builtBundle: only a bundle at least as new as the compiled workflows beside it', () => {
  const dir = mkdtempSync(join(scratchRoot(), 'rb-bundle-'));
  cleanup.add('the folder', () => rmSync(dir, { recursive: true, force: true }));
  expect(builtBundle(dir)).toBeUndefined(); // nothing built
  mkdirSync(join(dir, 'workflows'));
  writeFileSync(join(dir, 'workflows', 'index.js'), '');
  expect(builtBundle(dir)).toBeUndefined(); // compiled, not bundled
  writeFileSync(join(dir, 'workflow-bundle.js'), '');
  const now = Date.now() / 1000;
  utimesSync(join(dir, 'workflow-bundle.js'), now - 60, now - 60);
  expect(builtBundle(dir)).toBeUndefined(); // compiled again after the bundle: stale
  utimesSync(join(dir, 'workflow-bundle.js'), now + 1, now + 1);
  expect(builtBundle(dir)).toBe(join(dir, 'workflow-bundle.js'));
  // The sources run through tsx have none.
  expect(builtBundle(join(ROOT, 'src'))).toBeUndefined();
});

test('rollback worker from the build runs its workflows from dist/workflow-bundle.js', async () => {
  const queue = testTaskQueue('built-bundle');
  const env = { ...process.env };
  delete env.ROLLBACK_WORKFLOW_BUNDLE; // the test rig's own bundle: not this one
  const { child, stderr } = await spawnCliWorker(queue, { env });
  cleanup.add('the worker', () => killHard(child));
  const err = stderr();
  expect(err).toContain(
    `worker polling task queue ${queue} (workflows: prebuilt bundle ${join(ROOT, 'dist', 'workflow-bundle.js')})`,
  );
  expect(err).not.toContain('running the sources through tsx');

  // A rollback's workflow code runs in that worker: it answers the progress query.
  const root = mkdtempSync(join(scratchRoot(), 'rb-bundle-run-'));
  cleanup.add('the run folder', () => rmSync(root, { recursive: true, force: true }));
  const deployPath = join(root, 'srv');
  mkdirSync(deployPath);
  spawnSync('git', ['init', '-q', deployPath]);
  const client = await connectClient(queue);
  cleanup.add('the client', () => client.close());
  const { request, plan } = commandRollback('bundle-run', deployPath, root);
  const started = await client.start(request, plan);
  cleanup.add('the rollback', () =>
    client.terminate(started.workflowId, started.runId, 'test over').catch(() => undefined),
  );
  const record = await eventually(
    'the workflow to answer its progress query',
    () => client.progress(started.workflowId, started.runId, 2000).catch(() => undefined),
    30_000,
  );
  expect(record).toMatchObject({ rollbackId: request.rollbackId, target: 'bundle-run' });
});
