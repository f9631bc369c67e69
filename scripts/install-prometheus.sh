#!/usr/bin/env bash
# Finds or installs Prometheus (and Alertmanager) for the guard tests, and prints lines the rig reads:
#   PROMETHEUS=/path/to/prometheus
#   ALERTMANAGER=/path/to/alertmanager
# Uses the machine's binaries when there are some. Otherwise it fetches Debian's packages
# (prometheus, prometheus-alertmanager) with `apt-get download` and unpacks them into
# .tools/prometheus: nothing is installed into the system. The rig runs them with flags of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/debs.sh
. scripts/lib/debs.sh
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
ROOT="$TOOLS_DIR/prometheus"

found() { command -v "$1" 2>/dev/null || { [ -x "/usr/bin/$1" ] && echo "/usr/bin/$1"; } || true; }
PROMETHEUS=$(found prometheus)
ALERTMANAGER=$(found prometheus-alertmanager)
if [ -z "$PROMETHEUS" ] || [ -z "$ALERTMANAGER" ]; then
  if [ ! -x "$ROOT/usr/bin/prometheus" ] || [ ! -x "$ROOT/usr/bin/prometheus-alertmanager" ]; then
    command -v apt-get >/dev/null || { echo "install-prometheus: no prometheus and no apt-get: install prometheus" >&2; exit 1; }
    echo "install-prometheus: fetching prometheus and alertmanager from Debian into $ROOT" >&2
    unpack_debs "$ROOT" prometheus prometheus-alertmanager
    commit_debs install-prometheus "$ROOT" usr/bin/prometheus
  fi
  PROMETHEUS="$ROOT/usr/bin/prometheus"
  ALERTMANAGER="$ROOT/usr/bin/prometheus-alertmanager"
fi
# Debian's alertmanager reads its default template from /usr/share/prometheus/alertmanager (a path
# compiled in); the unpacked one's templates are here, and the rig lays them over /usr/share for it.
SHARE=""
[ -f /usr/share/prometheus/alertmanager/default.tmpl ] || SHARE="$ROOT/usr/share"
echo "PROMETHEUS=$PROMETHEUS ALERTMANAGER=$ALERTMANAGER ALERTMANAGER_SHARE=$SHARE"
