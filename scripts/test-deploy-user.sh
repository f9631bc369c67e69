#!/usr/bin/env bash
# The Unix user the SSH tests log in as: not the user running the tests, so the tests show that a
# rollback over SSH acts with the remote login's rights, on files that login owns. Prints a line the
# test rig reads:
#   DEPLOY_USER=rbdeploy DEPLOY_HOME=/home/rbdeploy PM2=/home/rbdeploy/.rig-pm2/node_modules/.bin/pm2 SEPARATE=1
# As root it creates the user (once), gives it a copy of our npm cache (so `npm ci --offline` works
# in its deployments, as on a host with a warm cache) and installs pm2 in its home (as a host has
# it). As anyone else, it names the current user (SEPARATE=0): the tests then log in as themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
USER_NAME="${ROLLBACK_TEST_DEPLOY_USER:-rbdeploy}"
PM2_VERSION=$(node -p 'require("./node_modules/pm2/package.json").version')

if [ "$(id -u)" != 0 ]; then
  me=$(id -un)
  echo "DEPLOY_USER=$me DEPLOY_HOME=$HOME PM2= SEPARATE=0"
  exit 0
fi

exec 9>/tmp/rollback-test-deploy-user.lock
flock 9
if ! getent passwd "$USER_NAME" >/dev/null; then
  echo "test-deploy-user: adding the user $USER_NAME for the SSH tests" >&2
  useradd --create-home --shell /bin/bash "$USER_NAME"
fi
# No password, but not locked either: sshd without PAM refuses a locked account even with a key.
if [ "$(getent shadow "$USER_NAME" | cut -d: -f2)" = "!" ]; then usermod -p '*' "$USER_NAME"; fi
home=$(getent passwd "$USER_NAME" | cut -d: -f6)
group=$(id -gn "$USER_NAME")

# The npm cache, refreshed when the fixture's lock file changes.
cache=$(npm config get cache 2>/dev/null)
stamp=$(sha256sum test/fixtures/lightdash-mcp/package-lock.json package-lock.json | sha256sum | cut -c1-16)
if [ "$(cat "$home/.npm/.rig-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "test-deploy-user: copying the npm cache to $home/.npm" >&2
  rm -rf "$home/.npm"
  mkdir -p "$home/.npm"
  cp -a "$cache/_cacache" "$home/.npm/_cacache"
  echo "$stamp" >"$home/.npm/.rig-stamp"
  chown -R "$USER_NAME:$group" "$home/.npm"
fi

# pm2 and its dependencies, as `npm i -g pm2` leaves them on a host: our node_modules, linked
# (hard links when the file system allows, else copied) into a folder the user can read.
pm2="$home/.rig-pm2/node_modules/pm2/bin/pm2"
if [ ! -f "$pm2" ] || [ "$(cat "$home/.rig-pm2/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "test-deploy-user: giving $USER_NAME pm2 $PM2_VERSION in $home/.rig-pm2" >&2
  rm -rf "$home/.rig-pm2"
  mkdir -p "$home/.rig-pm2"
  cp -al node_modules "$home/.rig-pm2/node_modules" 2>/dev/null || cp -a node_modules "$home/.rig-pm2/node_modules"
  chmod -R a+rX "$home/.rig-pm2"
  echo "$stamp" >"$home/.rig-pm2/.stamp"
fi
echo "DEPLOY_USER=$USER_NAME DEPLOY_HOME=$home PM2=$pm2 SEPARATE=1"
