#!/usr/bin/env bash
# Finds or installs a Docker engine for the end-to-end test of docker-compose.yml, and prints a line
# the rig reads:
#   DOCKERD=/path/to/dockerd PATH_DIRS=dir:dir LIBS=/path/or/empty XTABLES=/path/or/empty DEBOOTSTRAP=/path DEBOOTSTRAP_DIR=/path/or/empty
# Uses the machine's dockerd (and debootstrap) when it has them. Otherwise it fetches Debian's
# packages (docker.io, containerd, runc, tini, iptables and the libraries it needs, debootstrap) with
# `apt-get download` and unpacks them into .tools/docker: nothing is installed into the system and no
# daemon is left running. The rig (test/rig/docker.ts) starts dockerd with a data root, exec root,
# socket and pid file of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/debs.sh
. scripts/lib/debs.sh
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
ROOT="$TOOLS_DIR/docker"
PACKAGES=(docker.io containerd runc tini iptables libip4tc2 libip6tc2 libxtables12 libnetfilter-conntrack3
  libnfnetlink0 libnftnl11 libmnl0 libdevmapper1.02.1 debootstrap)

unpacked() { [ -x "$ROOT/usr/sbin/dockerd" ] && [ -x "$ROOT/usr/sbin/debootstrap" ]; }
if ! unpacked && command -v dockerd >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1; then
  echo "DOCKERD=$(command -v dockerd) PATH_DIRS= LIBS= XTABLES= DEBOOTSTRAP=$(command -v debootstrap) DEBOOTSTRAP_DIR="
  exit 0
fi
mkdir -p "$TOOLS_DIR"
exec 9>"$TOOLS_DIR/.docker.lock"
flock 9
if ! unpacked; then
  command -v apt-get >/dev/null || { echo "install-docker: no dockerd and no apt-get: install Docker" >&2; exit 1; }
  echo "install-docker: fetching Debian's docker.io into $ROOT" >&2
  unpack_debs "$ROOT" "${PACKAGES[@]}"
  # The alternatives dpkg would have made: dockerd calls `iptables` (the legacy backend: no nftables
  # library needed at run time).
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf "$t-legacy" "$ROOT.partial/usr/sbin/$t"
  done
  commit_debs install-docker "$ROOT" usr/sbin/dockerd usr/bin/containerd usr/bin/runc usr/sbin/debootstrap
fi
echo "DOCKERD=$ROOT/usr/sbin/dockerd PATH_DIRS=$ROOT/usr/bin:$ROOT/usr/sbin LIBS=$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu XTABLES=$ROOT/usr/lib/x86_64-linux-gnu/xtables DEBOOTSTRAP=$ROOT/usr/sbin/debootstrap DEBOOTSTRAP_DIR=$ROOT/usr/share/debootstrap"
