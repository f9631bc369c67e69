#!/usr/bin/env bash
# Finds or installs Chromium for the Web UI test (headless, driven by playwright-core), and prints
# a line the rig reads:
#   CHROMIUM=/path/to/chromium LD_PATH=/extra/library/dirs (empty when none)
# Uses the machine's chromium when there is one. Otherwise it fetches Debian's chromium and the
# packages it needs that the machine lacks with `apt-get download` and unpacks them into
# .tools/chromium: nothing is installed into the system; the rig runs the binary with their
# libraries on LD_LIBRARY_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/debs.sh
. scripts/lib/debs.sh
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
ROOT="$TOOLS_DIR/chromium"

for c in chromium chromium-browser; do
  if command -v "$c" >/dev/null 2>&1; then
    echo "CHROMIUM=$(command -v "$c") LD_PATH="
    exit 0
  fi
done
if [ ! -x "$ROOT/usr/lib/chromium/chromium" ]; then
  command -v apt-get >/dev/null || { echo "install-chromium: no chromium and no apt-get: install chromium" >&2; exit 1; }
  echo "install-chromium: fetching chromium and its libraries from Debian into $ROOT" >&2
  # What installing it would add (upgrades of installed packages are not needed to run it).
  missing=$(apt-get install --simulate chromium 2>/dev/null | awk '/^Inst/{print $2}' |
    while read -r p; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  # shellcheck disable=SC2086 # one package name per word
  unpack_debs "$ROOT" $missing
  commit_debs install-chromium "$ROOT" usr/lib/chromium/chromium
fi
libs="$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu/pulseaudio"
echo "CHROMIUM=$ROOT/usr/lib/chromium/chromium LD_PATH=$libs"
