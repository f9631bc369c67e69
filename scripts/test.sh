#!/usr/bin/env bash
# The test command: installs what it needs, runs every suite against real components (a Temporal
# dev server, git, npm, pm2, MCP servers), and ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests || { echo "0 passed, 1 failed"; exit 1; }

results=$(mktemp)
# The project's own jest, not npx: npm would add warnings about this machine's npm config.
node_modules/.bin/jest --ci --json --outputFile="$results" "$@"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const failedSuites = r.numFailedTestSuites - r.testResults.filter((s) => s.assertionResults.some((a) => a.status === "failed")).length;
  const failed = r.numFailedTests + Math.max(0, failedSuites);
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results" || echo "0 passed, 1 failed"
rm -f "$results"
exit $status
