#!/usr/bin/env bash
# `npm run demo`: installs what a fresh machine lacks (printing the one-time builds' progress: the cluster's binaries,
# the real node's, Knative's and Traefik's, and the images), then runs the main job end to end on the real platform:
# a kubelet + containerd node, every function deployed by knative/deploy.sh behind one provider URL, the engine as its
# Deployment (scripts/demo-platform.ts). Needs root. `npm run demo -- v2`: the same through the v2 API with ocean.js 8.x.
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
