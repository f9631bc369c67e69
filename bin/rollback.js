#!/usr/bin/env node
// Runs the compiled CLI (dist/, made by `npm run build`) when it is at least as new as every file in
// src/; else the TypeScript sources through tsx (slower to start), with a one-line note on stderr.
const { join } = require('node:path');
const { entryPoint, sources } = require('./entry-point');

const args = process.argv.slice(2);
let { path, why } = entryPoint();
if (!path) {
  // With --json, stderr carries errors only.
  if (!args.includes('--json'))
    process.stderr.write(
      `rollback: ${why}; running the sources through tsx (npm run build makes it start faster)\n`,
    );
  require('tsx/cjs');
  path = join(sources, 'cli', 'main.ts');
}
require(path)
  .main(args)
  .then(
    // Exit once stdout has taken everything: a piped stdout is written asynchronously, and exiting
    // at once cut long output (a JSON report, the config schema) at 64 KiB.
    (code) => process.stdout.write('', () => process.exit(code)),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
