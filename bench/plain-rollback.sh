#!/usr/bin/env bash
# The runbook as a plain script, for comparison with the workflow (npm run bench).
# usage: plain-rollback.sh DEPLOY_PATH PM2_NAME TAG HEALTH_URL EXPECTED_VERSION BACKUP_DIR
set -euo pipefail
path=$1 name=$2 tag=$3 url=$4 version=$5 backup=$6
pm2() { node "$(dirname "$0")/../node_modules/pm2/bin/pm2" "$@" >/dev/null; }

mkdir -p "$backup" && cp "$path/.env" "$backup/.env"
pm2 stop "$name"
git -C "$path" fetch --quiet --tags --force origin
git -C "$path" checkout --quiet --detach "$tag"
(cd "$path" && npm ci --offline --no-audit --no-fund --loglevel=error >/dev/null)
cp "$backup/.env" "$path/.env"
pm2 start "$name"
for _ in $(seq 1 300); do
  if curl -fsS "$url" 2>/dev/null | grep -q "\"version\":\"$version\""; then exit 0; fi
  sleep 0.1
done
echo "health never reported $version" >&2
exit 1
