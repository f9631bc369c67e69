#!/usr/bin/env bash
# Installs Verdaccio (a local npm registry, for the tests of npm-package targets) into
# .tools/verdaccio from its pinned lockfile (scripts/verdaccio), once, and prints a line the rig
# reads: VERDACCIO=/path/to/verdaccio/bin. Verdaccio 6 installs only with node-fetch overridden to
# 2.7.0 (the package.json beside the lock says so).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
ROOT="$TOOLS_DIR/verdaccio"
BIN="$ROOT/node_modules/verdaccio/bin/verdaccio"
if [ ! -f "$BIN" ] || ! cmp -s scripts/verdaccio/package-lock.json "$ROOT/package-lock.json"; then
  echo "install-verdaccio: installing Verdaccio into $ROOT" >&2
  mkdir -p "$ROOT"
  cp scripts/verdaccio/package.json scripts/verdaccio/package-lock.json "$ROOT/"
  (cd "$ROOT" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
fi
[ -f "$BIN" ] || { echo "install-verdaccio: $BIN is missing after the install" >&2; exit 1; }
echo "VERDACCIO=$BIN"
