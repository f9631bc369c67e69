// Which module `rollback` runs: the compiled CLI (dist/, made by `npm run build`) when it is at
// least as new as every file in src/; else the TypeScript sources (through tsx), and why. Shared by
// bin/rollback.js and the tests and benches that must know whether they run the build.
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

/** The module to run (null: the sources), and why it is not the build when it is not. */
function entryPoint() {
  if (!existsSync(sources)) return { path: built };
  if (!existsSync(built)) return { path: null, why: 'no build in dist/' };
  if (statSync(built).mtimeMs < newestChange(sources)) return { path: null, why: 'dist/ is older than src/' };
  return { path: built };
}

module.exports = { entryPoint, sources };
