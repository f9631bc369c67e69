#!/usr/bin/env node
// Runs the compiled CLI (dist/, made by `npm run build`) when it is at least as new as every file in
// src/; else the TypeScript sources through tsx (slower to start), with a one-line note on stderr.
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const built = join(root, 'dist', 'cli', 'main.js');
const sources = join(root, 'src');

function newestChange(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** The module to run, and why it is not the build when it is not. */
function entryPoint() {
  if (!existsSync(sources)) return { path: built };
  if (!existsSync(built)) return { path: null, why: 'no build in dist/' };
  if (statSync(built).mtimeMs < newestChange(sources)) return { path: null, why: 'dist/ is older than src/' };
  return { path: built };
}

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
