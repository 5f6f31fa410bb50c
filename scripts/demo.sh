#!/usr/bin/env bash
# `npm run demo`: installs what a fresh machine lacks (printing the one-time cluster build's progress), then runs
# the main job end to end on the local setup. `npm run demo -- v2`: the same through the v2 API with ocean.js 8.x.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
# The project's own Node, which ensure-deps.sh has just made sure of.
export PATH="$PWD/node_modules/.bin:$PATH"
case "${1:-}" in
  "") exec node --import tsx scripts/demo.ts ;;
  v2) exec node --import tsx scripts/demo-v2.ts ;;
  *) echo "usage: npm run demo [-- v2]" >&2; exit 2 ;;
esac
