#!/usr/bin/env bash
# Finds or installs nginx for the tests of blue-green targets, and prints a line the rig reads:
#   NGINX=/path/to/nginx
# Uses the machine's nginx when there is one. Otherwise it fetches Debian's packages (nginx,
# nginx-common) with `apt-get download` and unpacks them into .tools/nginx: nothing is installed
# into the system. The rig runs it with a prefix and a configuration of its own (-p, -c).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/debs.sh
. scripts/lib/debs.sh
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
    unpack_debs "$ROOT" nginx nginx-common
    commit_debs install-nginx "$ROOT" usr/sbin/nginx
  fi
  NGINX="$ROOT/usr/sbin/nginx"
fi
echo "NGINX=$NGINX"
