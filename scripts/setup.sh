#!/usr/bin/env bash
# Installs what the project needs, from nothing: npm dependencies (pinned by package-lock.json), the
# compiled CLI (dist/) and the Temporal CLI (found on PATH or TEMPORAL_CLI_PATH, else installed into .tools/).
# With --tests, also what only the tests use: moto, Temporal's time-skipping test server and sshd.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 is required but not installed ($2)" >&2; exit 1; }; }
need node "install Node.js 20 or later"
need npm "it comes with Node.js"
need git "apt-get install git"
need python3 "apt-get install python3 python3-venv (used to install the Temporal CLI)"
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then echo "setup: Node.js 20 or later is required (found $(node --version))" >&2; exit 1; fi

# npm install, which honours the lock's pinned versions: a lock made where the registry mirror had
# no macOS builds of @swc/core lacks them, and npm ci refuses such a lock.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  npm install --no-audit --no-fund --loglevel=error
fi

# The compiled CLI starts in a fraction of the time the sources take through tsx (bin/rollback.js
# uses dist/ only while it is as new as src/).
if [ ! -f dist/cli/main.js ] || [ -n "$(find src tsconfig.json tsconfig.build.json -newer dist/cli/main.js -print -quit)" ]; then
  echo "setup: building the CLI (npm run build)" >&2
  npm run build --silent || echo "setup: the build failed (see above); the CLI runs from the sources, slower to start" >&2
fi

node bin/rollback.js setup >&2
if [ "${1:-}" = "--tests" ]; then
  # moto, the AWS API emulator the ECS tests run against, and the time-skipping Temporal test server
  bash scripts/install-python-tool.sh moto >/dev/null
  bash scripts/install-python-tool.sh test-server >/dev/null
  # OpenSSH's server, for the SSH runner's tests (unpacked into .tools when the machine has none)
  bash scripts/install-sshd.sh >/dev/null
  # The Unix user the SSH tests log in as (a second user, when run as root)
  bash scripts/test-deploy-user.sh >/dev/null
  # Verdaccio, the local npm registry the npm-package tests publish the fixture to
  bash scripts/install-verdaccio.sh >/dev/null
  # nginx, the proxy the blue-green tests switch (unpacked into .tools when the machine has none)
  bash scripts/install-nginx.sh >/dev/null
  # podman, the container engine (Docker Engine API) the container tests roll back on
  bash scripts/install-podman.sh >/dev/null
  # Prometheus and Alertmanager, the metrics source and the alert sender of the guard tests
  bash scripts/install-prometheus.sh >/dev/null
  # Docker Compose v2 (built from Go when the machine has none), to validate docker-compose.yml
  bash scripts/install-compose.sh >/dev/null
  # Chromium, for the test that reads a history in the Web UI through the codec server
  bash scripts/install-chromium.sh >/dev/null
  # The real Temporal server and its schema tool (built from Go sources once; seconds when cached),
  # for the cluster suite on PostgreSQL (test/cluster.test.ts)
  bash scripts/install-temporal-server.sh >/dev/null
fi
