#!/usr/bin/env bash
# Finds or installs podman for the tests of container targets, and prints a line the rig reads:
#   PODMAN=/path/to/podman CONMON=/path/to/conmon RUNC=/path/to/runc LIBS=/path/or/empty SECCOMP=/path
#   REGISTRY=/path/to/docker-registry
# Uses the machine's podman and docker-registry when it has them. Otherwise it fetches Debian's
# packages (podman, conmon, runc, containers-common, the two libraries the machine lacks, and
# docker-registry, the image registry the pull tests push to) with `apt-get download`
# and unpacks them into .tools/podman: nothing is installed into the system. The rig starts
# `podman system service` with a configuration, storage and socket of its own: the Docker Engine
# API the rollback talks to.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/debs.sh
. scripts/lib/debs.sh
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
ROOT="$TOOLS_DIR/podman"
PACKAGES=(podman conmon runc golang-github-containers-common libgpgme11 libsubid4 docker-registry)

if command -v podman >/dev/null 2>&1 && command -v conmon >/dev/null 2>&1 && command -v docker-registry >/dev/null 2>&1; then
  PODMAN=$(command -v podman)
  CONMON=$(command -v conmon)
  RUNC=$(command -v runc || echo /usr/sbin/runc)
  LIBS=
  SECCOMP=/usr/share/containers/seccomp.json
  REGISTRY=$(command -v docker-registry)
else
  if [ ! -x "$ROOT/usr/bin/podman" ] || [ ! -x "$ROOT/usr/bin/docker-registry" ]; then
    command -v apt-get >/dev/null || { echo "install-podman: no podman and no apt-get: install podman" >&2; exit 1; }
    echo "install-podman: fetching podman from Debian into $ROOT" >&2
    unpack_debs "$ROOT" "${PACKAGES[@]}"
    commit_debs install-podman "$ROOT" usr/bin/podman usr/bin/conmon usr/bin/docker-registry
  fi
  PODMAN="$ROOT/usr/bin/podman"
  CONMON="$ROOT/usr/bin/conmon"
  RUNC="$ROOT/usr/sbin/runc"
  LIBS="$ROOT/usr/lib/x86_64-linux-gnu"
  SECCOMP="$ROOT/usr/share/containers/seccomp.json"
  REGISTRY="$ROOT/usr/bin/docker-registry"
fi
echo "PODMAN=$PODMAN CONMON=$CONMON RUNC=$RUNC LIBS=$LIBS SECCOMP=$SECCOMP REGISTRY=$REGISTRY"
