#!/usr/bin/env bash
# Installs moto's server (the AWS API emulator the ECS tests run against) into a virtualenv of the
# project's own, .tools/moto-venv, at a pinned version. Does nothing when that version is there.
# Prints the path of moto_server on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
VENV="$TOOLS_DIR/moto-venv"
BIN="$VENV/bin/moto_server"

installed() {
  [ -x "$BIN" ] && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$MOTO_VERSION" ]
}

if ! installed; then
  python=$(command -v python3 || command -v python || true)
  if [ -z "$python" ]; then
    echo "install-moto: python3 is required to install moto (apt-get install python3 python3-venv)" >&2
    exit 1
  fi
  echo "install-moto: installing moto[server]==$MOTO_VERSION into $VENV" >&2
  mkdir -p "$TOOLS_DIR"
  [ -x "$VENV/bin/pip" ] || "$python" -m venv "$VENV" >&2 || {
    echo "install-moto: cannot create a virtualenv in $VENV (apt-get install python3-venv)" >&2
    exit 1
  }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
  installed || { echo "install-moto: moto $MOTO_VERSION did not install into $VENV" >&2; exit 1; }
fi
echo "$BIN"
