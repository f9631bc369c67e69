#!/usr/bin/env bash
# Finds or installs Prometheus (and Alertmanager) for the guard tests, and prints lines the rig reads:
#   PROMETHEUS=/path/to/prometheus
#   ALERTMANAGER=/path/to/alertmanager
# Uses the machine's binaries when there are some. Otherwise it fetches Debian's packages
# (prometheus, prometheus-alertmanager) with `apt-get download` and unpacks them into
# .tools/prometheus: nothing is installed into the system. The rig runs them with flags of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
ROOT="$TOOLS_DIR/prometheus"

found() { command -v "$1" 2>/dev/null || { [ -x "/usr/bin/$1" ] && echo "/usr/bin/$1"; } || true; }
PROMETHEUS=$(found prometheus)
ALERTMANAGER=$(found prometheus-alertmanager)
if [ -z "$PROMETHEUS" ] || [ -z "$ALERTMANAGER" ]; then
  if [ ! -x "$ROOT/usr/bin/prometheus" ] || [ ! -x "$ROOT/usr/bin/prometheus-alertmanager" ]; then
    command -v apt-get >/dev/null || { echo "install-prometheus: no prometheus and no apt-get: install prometheus" >&2; exit 1; }
    echo "install-prometheus: fetching prometheus and alertmanager from Debian into $ROOT" >&2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    chmod 0777 "$work" # apt-get download drops root for the download
    (cd "$work" && apt-get download prometheus prometheus-alertmanager >&2)
    mkdir -p "$ROOT"
    for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
    [ -x "$ROOT/usr/bin/prometheus" ] || { echo "install-prometheus: the packages did not hold usr/bin/prometheus" >&2; exit 1; }
  fi
  PROMETHEUS="$ROOT/usr/bin/prometheus"
  ALERTMANAGER="$ROOT/usr/bin/prometheus-alertmanager"
fi
# Debian's alertmanager reads its default template from /usr/share/prometheus/alertmanager (a path
# compiled in); the unpacked one's templates are here, and the rig lays them over /usr/share for it.
SHARE=""
[ -f /usr/share/prometheus/alertmanager/default.tmpl ] || SHARE="$ROOT/usr/share"
echo "PROMETHEUS=$PROMETHEUS ALERTMANAGER=$ALERTMANAGER ALERTMANAGER_SHARE=$SHARE"
