#!/usr/bin/env bash
# Builds the images docker-compose.yml runs, on a Docker engine that cannot pull (DOCKER_HOST names
# it): the upstream images' stand-ins of deploy/local-images (see its README) under the upstream
# tags, and the worker image from the repository's Dockerfile on a local Node 20 base. Each image is
# built once: a stand-in is rebuilt only when its inputs change (a label holds their hash); the
# worker goes through `docker build`, whose layer cache makes an unchanged build quick.
#   DOCKER_HOST=unix:///path.sock scripts/build-stack-images.sh
# Prints the time each image took to stderr, and on stdout one line: IMAGES=tag,tag,...
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
TOOLS_DIR="${ROLLBACK_TOOLS_DIR:-$PWD/.tools}"
: "${DOCKER_HOST:?set DOCKER_HOST to the engine to build on (unix:///path/to/docker.sock)}"
export DOCKER_BUILDKIT=0 # the classic builder: no buildx plugin needed
TEMPORAL_VERSION=1.32.1
UI_VERSION=2.55.0
BASE=rollback-base:bookworm
NODE_IMAGE=rollback-node:20-bookworm
kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
log() { echo "build-stack-images: $*" >&2; }
exists() { docker image inspect "$1" >/dev/null 2>&1; }
label() { docker image inspect -f '{{ index .Config.Labels "rollback.inputs" }}' "$1" 2>/dev/null || true; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The bookworm root every stand-in starts from.
if ! exists "$BASE"; then
  line=$(bash scripts/install-docker.sh)
  debootstrap=$(kv DEBOOTSTRAP "$line")
  dir=$(kv DEBOOTSTRAP_DIR "$line")
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  mirror=${mirror:-http://deb.debian.org/debian}
  started=$(date +%s)
  log "debootstrap bookworm from $mirror"
  DEBOOTSTRAP_DIR=${dir:-/usr/share/debootstrap} "$debootstrap" --variant=minbase --include=ca-certificates \
    bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/root" -c . | docker import - "$BASE" >/dev/null
  rm -rf "$work/root"
  log "$BASE in $(($(date +%s) - started)) s"
fi

# Builds deploy/local-images/NAME as TAG from a context holding the files given as DEST=SOURCE.
standin() {
  local name=$1 tag=$2
  shift 2
  local ctx="$work/$name"
  mkdir -p "$ctx"
  cp -r "deploy/local-images/$name/." "$ctx/"
  for pair in "$@"; do cp -rL "${pair#*=}" "$ctx/${pair%%=*}"; done
  local hash
  hash=$(cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  if [ "$(label "$tag")" = "$hash" ]; then
    log "$tag is up to date"
    return
  fi
  local started
  started=$(date +%s)
  docker build -q --label "rollback.inputs=$hash" --build-arg "BASE_IMAGE=$BASE" -t "$tag" "$ctx" >/dev/null ||
    { log "building $tag failed"; exit 1; }
  log "$tag in $(($(date +%s) - started)) s"
}

server_line=$(bash scripts/install-temporal-server.sh)
temporal_cli=${TEMPORAL_CLI_PATH:-$(command -v temporal || echo "$TOOLS_DIR/venv/bin/temporal")}
[ -x "$temporal_cli" ] || { log "no Temporal CLI (run scripts/setup.sh, or set TEMPORAL_CLI_PATH)"; exit 1; }

# The Web UI server, built from its Go module once (about 15 s), with the module's docker.yaml.
UI_BIN="$TOOLS_DIR/temporal-ui/bin"
if [ ! -x "$UI_BIN/server" ] || ! go version -m "$UI_BIN/server" | grep -q "ui-server/v2[[:space:]]*v$UI_VERSION"; then
  mkdir -p "$UI_BIN"
  CGO_ENABLED=0 GOBIN="$UI_BIN" go install "github.com/temporalio/ui-server/v2/cmd/server@v$UI_VERSION" >&2
fi
UI_CONFIG="$(go env GOMODCACHE)/github.com/temporalio/ui-server/v2@v$UI_VERSION/config/docker.yaml"

standin postgres postgres:15-bookworm
standin temporal-server "temporalio/server:$TEMPORAL_VERSION" "temporal-server=$(kv TEMPORAL_SERVER "$server_line")"
standin admin-tools "temporalio/admin-tools:$TEMPORAL_VERSION" \
  "temporal-sql-tool=$(kv TEMPORAL_SQL_TOOL "$server_line")" "temporal=$temporal_cli" \
  "schema=$(dirname "$(dirname "$(kv TEMPORAL_SCHEMA_DIR "$server_line")")")"
standin ui "temporalio/ui:$UI_VERSION" "ui-server=$UI_BIN/server" "docker.yaml=$UI_CONFIG"
node_bin=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
extra_ca="$work/extra-ca"
mkdir -p "$extra_ca"
touch "$extra_ca/.keep"
cp /usr/local/share/ca-certificates/*.crt "$extra_ca/" 2>/dev/null || true
standin node "$NODE_IMAGE" "node=$node_bin" "npm=$npm_dir" "extra-ca=$extra_ca"

# The worker image, from the repository's own Dockerfile.
started=$(date +%s)
docker build -q --build-arg "NODE_IMAGE=$NODE_IMAGE" -t rollback-orchestrator:local "$REPO" >/dev/null ||
  { log "building the worker image failed"; exit 1; }
log "rollback-orchestrator:local in $(($(date +%s) - started)) s"
# What earlier builds of changed sources left untagged.
docker image prune -f >/dev/null
echo "IMAGES=$BASE,postgres:15-bookworm,temporalio/server:$TEMPORAL_VERSION,temporalio/admin-tools:$TEMPORAL_VERSION,temporalio/ui:$UI_VERSION,$NODE_IMAGE,rollback-orchestrator:local"
