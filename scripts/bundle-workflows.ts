// The second half of `npm run build`: bundles the compiled workflow code (dist/workflows) once, into
// dist/workflow-bundle.js, so that `rollback worker` run from the build starts without webpack (the
// bundling costs seconds and about 130 MB of the worker's memory). A worker run from the sources, or
// with encrypted payloads (whose failure converter goes into a bundle of its own), bundles at start.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const dist = join(__dirname, '..', 'dist');
const quiet = () => undefined;
const started = Date.now();
bundleWorkflowCode({
  workflowsPath: require.resolve(join(dist, 'workflows')),
  logger: { info: quiet, warn: console.warn, error: console.error, debug: quiet, trace: quiet, log: quiet },
})
  .then(({ code }) => {
    writeFileSync(join(dist, 'workflow-bundle.js'), code);
    process.stderr.write(
      `bundle-workflows: dist/workflow-bundle.js (${Math.round(code.length / 1024)} KB) in ${Date.now() - started} ms\n`,
    );
  })
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
