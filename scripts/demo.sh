#!/usr/bin/env bash
# The demo command: installs what it needs, then runs an emergency rollback end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx tsx scripts/demo.ts
