#!/usr/bin/env bash
# Finds or installs nginx for the tests of blue-green targets, and prints a line the rig reads:
#   NGINX=/path/to/nginx
# Uses the machine's nginx when there is one. Otherwise it fetches Debian's packages (nginx,
# nginx-common) with `apt-get download` and unpacks them into .tools/nginx: nothing is installed
# into the system. The rig runs it with a prefix and a configuration of its own (-p, -c).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
ROOT="$TOOLS_DIR/nginx"

if command -v nginx >/dev/null 2>&1; then
  NGINX=$(command -v nginx)
elif [ -x /usr/sbin/nginx ]; then
  NGINX=/usr/sbin/nginx
else
  if [ ! -x "$ROOT/usr/sbin/nginx" ]; then
    command -v apt-get >/dev/null || { echo "install-nginx: no nginx and no apt-get: install nginx" >&2; exit 1; }
    echo "install-nginx: fetching nginx from Debian into $ROOT" >&2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    chmod 0777 "$work" # apt-get download drops root for the download
    (cd "$work" && apt-get download nginx nginx-common >&2)
    mkdir -p "$ROOT"
    for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
    [ -x "$ROOT/usr/sbin/nginx" ] || { echo "install-nginx: the packages did not hold usr/sbin/nginx" >&2; exit 1; }
  fi
  NGINX="$ROOT/usr/sbin/nginx"
fi
echo "NGINX=$NGINX"
