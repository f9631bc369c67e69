#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so there is no build step between an edit and a run.
require('tsx/cjs');
const { main } = require('../src/cli/main.ts');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
