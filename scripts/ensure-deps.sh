#!/usr/bin/env bash
# Installs what a fresh machine lacks for this project: Debian packages, npm dependencies, and the dev cluster's
# binaries (built from upstream Go modules into a cache outside the repo; seconds when cached, ~20 min cold).
# `ensure-deps.sh real-node` (or C2D_REAL_NODE=1) adds what the real node needs: containerd, runc, CNI plugins and the
# image tools from Debian, and kubelet, kube-proxy, kube-scheduler, CoreDNS, kube-router and pause from source. Until
# the real node is the default platform, the default path (and CI) does not install or build any of it.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v openssl >/dev/null || missing+=(openssl)
command -v go >/dev/null || missing+=(golang-go)
real_node=${C2D_REAL_NODE:-0}
[ "${1:-}" = real-node ] && real_node=1
if [ "$real_node" = 1 ]; then
  # Debian package → a command it provides.
  for pkg in containerd:containerd runc:runc containernetworking-plugins:/usr/lib/cni/bridge iptables:iptables \
    ipset:ipset conntrack:conntrack socat:socat mmdebstrap:mmdebstrap umoci:umoci skopeo:skopeo buildah:buildah; do
    command -v "${pkg#*:}" >/dev/null || [ -x "${pkg#*:}" ] || missing+=("${pkg%%:*}")
  done
fi
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

bash devcluster/build-binaries.sh all
if [ "$real_node" = 1 ]; then
  bash devcluster/build-binaries.sh real-node
  bash devcluster/real-node/build-images.sh all
fi
