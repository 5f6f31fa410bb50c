#!/usr/bin/env bash
# Installs what a fresh machine lacks for this project: Debian packages, npm dependencies, and the dev cluster's
# binaries (built from upstream Go modules into a cache outside the repo; seconds when cached, 11–22 min cold).
# `ensure-deps.sh real-node` (or C2D_REAL_NODE=1) adds what the real node needs: containerd, runc, CNI plugins and the
# image tools from Debian, and kubelet, kube-proxy, kube-scheduler, CoreDNS, kube-router, pause, Knative Serving and
# Traefik from source. Until the real node is the default platform, the default path (and CI) does not install or
# build any of it.
set -euo pipefail
cd "$(dirname "$0")/.."
# The project's own Node (package.json's "node" package) comes first, as in npm scripts: the machine's may be older.
export PATH="$PWD/node_modules/.bin:$PATH"

missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v openssl >/dev/null || missing+=(openssl)
command -v go >/dev/null || missing+=(golang-go)
real_node=${C2D_REAL_NODE:-0}
[ "${1:-}" = real-node ] && real_node=1
node_missing=()
if [ "$real_node" = 1 ]; then
  # Debian package → a file it installs (gcc and libc6-dev link the pause program statically).
  for pkg in containerd:/usr/bin/containerd runc:/usr/sbin/runc containernetworking-plugins:/usr/lib/cni/bridge \
    iptables:/usr/sbin/iptables ipset:/usr/sbin/ipset conntrack:/usr/sbin/conntrack socat:/usr/bin/socat \
    mmdebstrap:/usr/bin/mmdebstrap umoci:/usr/bin/umoci skopeo:/usr/bin/skopeo buildah:/usr/bin/buildah \
    gcc:/usr/bin/gcc libc6-dev:/usr/lib/x86_64-linux-gnu/libc.a; do
    [ -e "${pkg#*:}" ] || node_missing+=("${pkg%%:*}")
  done
fi
apt_install() {
  echo "installing Debian packages: $*"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "$@" >/dev/null; fi
}
if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
if ((${#node_missing[@]})); then apt_install --no-install-recommends "${node_missing[@]}"; fi

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
if [ "$real_node" = 1 ]; then
  bash devcluster/build-binaries.sh real-node
  bash devcluster/build-binaries.sh knative
  bash devcluster/real-node/build-images.sh all
  bash devcluster/real-node/build-service-images.sh
  bash devcluster/knative/build-images.sh
  bash devcluster/real-node/build-project-images.sh all
fi
