#!/usr/bin/env bash
# Installs what a fresh machine lacks for this project: Debian packages, npm dependencies, and the dev cluster's
# binaries (built from upstream Go modules into a cache outside the repo; seconds when cached, ~20 min cold).
set -euo pipefail
cd "$(dirname "$0")/.."
# The project's own Node (package.json's "node" package) comes first, as in npm scripts: the machine's may be older.
export PATH="$PWD/node_modules/.bin:$PATH"

missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v openssl >/dev/null || missing+=(openssl)
command -v go >/dev/null || missing+=(golang-go)
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${missing[@]}" >/dev/null; fi
fi

if [ ! -d node_modules ] || [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
want="v$(node -p 'require("./package.json").devDependencies.node')"
have="$(node --version)"
if [ "$have" != "$want" ]; then
  echo "node on PATH is $have, not the project's $want (node_modules/.bin/node: was npm ci run with install scripts disabled?)" >&2
  exit 1
fi

bash devcluster/build-binaries.sh all
