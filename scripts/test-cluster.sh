#!/usr/bin/env bash
# The cluster suite alone (test/cluster.test.ts): the workflows on the real Temporal server v1.32.1
# on PostgreSQL 15 instead of the dev server. The README's test command runs it too; this is the
# short way to run just it. The setup builds the server first when it is not built yet (it prints
# the build time); ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash scripts/test.sh test/cluster.test.ts test/cluster-tls.test.ts "$@"
status=$?
echo "test-cluster: $(($(date +%s) - started)) s with the setup" >&2
exit $status
