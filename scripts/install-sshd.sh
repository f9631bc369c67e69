#!/usr/bin/env bash
# Finds or installs OpenSSH's server for the tests of SSH targets, and prints a line the rig reads:
#   SSHD=/path/to/sshd SFTP=/path/to/sftp-server LD_LIBRARY_PATH=...
# Uses the machine's /usr/sbin/sshd when there is one. Otherwise it fetches Debian's packages
# (openssh-server, openssh-sftp-server, libwrap0) with `apt-get download` and unpacks them into
# .tools/openssh: nothing is installed into the system, except what sshd itself insists on when
# run as root: its privilege-separation user `sshd` and the empty folder /run/sshd.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/debs.sh
. scripts/lib/debs.sh
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
ROOT="$TOOLS_DIR/openssh"

if [ -x /usr/sbin/sshd ]; then
  SSHD=/usr/sbin/sshd
  SFTP=$(ls /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server 2>/dev/null | head -1 || true)
  LIBS=""
else
  if [ ! -x "$ROOT/usr/sbin/sshd" ]; then
    command -v apt-get >/dev/null || { echo "install-sshd: no sshd and no apt-get: install OpenSSH's server (openssh-server)" >&2; exit 1; }
    echo "install-sshd: fetching openssh-server from Debian into $ROOT" >&2
    unpack_debs "$ROOT" openssh-server openssh-sftp-server libwrap0
    commit_debs install-sshd "$ROOT" usr/sbin/sshd
  fi
  SSHD="$ROOT/usr/sbin/sshd"
  SFTP="$ROOT/usr/lib/openssh/sftp-server"
  LIBS="$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu"
fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p /run/sshd && chmod 0755 /run/sshd
  if ! getent passwd sshd >/dev/null; then
    echo "install-sshd: adding sshd's privilege-separation user (sshd)" >&2
    useradd --system --no-create-home --home-dir /run/sshd --shell /usr/sbin/nologin sshd
  fi
fi
echo "SSHD=$SSHD SFTP=$SFTP LD_LIBRARY_PATH=$LIBS"
