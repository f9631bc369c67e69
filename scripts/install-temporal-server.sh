#!/usr/bin/env bash
# Builds the real Temporal server and its SQL schema tool (pinned, from Go sources) for the cluster
# suite (test/cluster.test.ts), and prints a line the rig reads:
#   TEMPORAL_SERVER=/path/to/server TEMPORAL_SQL_TOOL=/path/to/sql TEMPORAL_SCHEMA_DIR=/path/to/schema/postgresql/v12
# The binaries go into .tools/temporal-server/bin (static: CGO_ENABLED=0); a build of the pinned
# version already there is kept. The schema files come from the Go module cache (the same module).
# Needs Go; the first build takes minutes, every later run a fraction of a second.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
ROOT="$TOOLS_DIR/temporal-server"
BIN="$ROOT/bin"
MODULE=go.temporal.io/server
VERSION=v1.32.1

command -v go >/dev/null || { echo "install-temporal-server: Go is required to build the Temporal server $VERSION (https://go.dev/dl/)" >&2; exit 1; }

# A binary counts as built when Go's build info names the pinned module version.
built() { [ -x "$BIN/$1" ] && go version -m "$BIN/$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$MODULE[[:space:]]+$VERSION([[:space:]]|$)"; }

# Postgres refuses to run as root: the cluster suite runs it as "postgres", made here when missing.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi

mkdir -p "$BIN"
# One build at a time (two test runs starting together): the second waits, then finds it built.
exec 9>"$ROOT/.build.lock"
flock 9
if built server && built sql; then
  echo "install-temporal-server: server and sql tool $VERSION already built in $BIN (no build this run)" >&2
else
  echo "install-temporal-server: building the Temporal server and sql tool $VERSION into $BIN (takes minutes the first time)" >&2
  started=$(date +%s)
  for cmd in server tools/sql; do
    name=$(basename "$cmd")
    built "$name" || CGO_ENABLED=0 GOBIN="$BIN" go install "$MODULE/cmd/$cmd@$VERSION" >&2
  done
  built server && built sql || { echo "install-temporal-server: the build left no $VERSION binaries in $BIN" >&2; exit 1; }
  echo "install-temporal-server: built in $(($(date +%s) - started)) s" >&2
fi

SCHEMA_DIR="$(go env GOMODCACHE)/$MODULE@$VERSION/schema/postgresql/v12"
if [ ! -d "$SCHEMA_DIR/temporal/versioned" ]; then
  go mod download "$MODULE@$VERSION" >&2
fi
[ -d "$SCHEMA_DIR/temporal/versioned" ] && [ -d "$SCHEMA_DIR/visibility/versioned" ] ||
  { echo "install-temporal-server: no PostgreSQL schema in $SCHEMA_DIR" >&2; exit 1; }
echo "TEMPORAL_SERVER=$BIN/server TEMPORAL_SQL_TOOL=$BIN/sql TEMPORAL_SCHEMA_DIR=$SCHEMA_DIR"
