#!/usr/bin/env bash
# `npm run demo`: installs what a fresh machine lacks (printing the one-time cluster build's progress), then runs
# the main job end to end on the local setup.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
# The project's own Node, which ensure-deps.sh has just made sure of.
export PATH="$PWD/node_modules/.bin:$PATH"
exec node --import tsx scripts/demo.ts
