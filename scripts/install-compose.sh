#!/usr/bin/env bash
# Finds or builds Docker Compose v2 (the `docker compose` CLI, standalone) for the test that
# validates docker-compose.yml, and prints a line the rig reads:
#   COMPOSE=/path/to/docker-compose
# Uses the machine's (`docker compose` plugin or a docker-compose v2) when there is one; else builds
# the pinned version from Go sources into .tools/compose/bin (static: CGO_ENABLED=0). Needs Go; the
# first build takes minutes (9 min on a busy 2-core machine), later runs a fraction of a second.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
BIN="$TOOLS_DIR/compose/bin"
MODULE=github.com/docker/compose/v2
VERSION=v2.29.7

if command -v docker-compose >/dev/null 2>&1 && docker-compose version 2>/dev/null | grep -q 'v2\.'; then
  echo "COMPOSE=$(command -v docker-compose)"
  exit 0
fi
command -v go >/dev/null || { echo "install-compose: Go is required to build Docker Compose $VERSION (https://go.dev/dl/)" >&2; exit 1; }
built() { [ -x "$BIN/docker-compose" ] && go version -m "$BIN/docker-compose" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$MODULE[[:space:]]+$VERSION([[:space:]]|$)"; }

mkdir -p "$BIN"
exec 9>"$BIN/.build.lock"
flock 9
if ! built; then
  echo "install-compose: building Docker Compose $VERSION into $BIN (takes minutes the first time)" >&2
  started=$(date +%s)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  CGO_ENABLED=0 GOBIN="$work" go install "$MODULE/cmd@$VERSION" >&2
  mv "$work/cmd" "$BIN/docker-compose"
  built || { echo "install-compose: the build left no $VERSION binary in $BIN" >&2; exit 1; }
  echo "install-compose: built in $(($(date +%s) - started)) s" >&2
fi
echo "COMPOSE=$BIN/docker-compose"
