#!/usr/bin/env bash
# Installs what a fresh machine lacks for this project, printing progress; every later run finds it all cached:
#  - Debian packages: openssl, Go, python3, and for the node containerd, runc, the CNI plugins, iptables, ipset,
#    conntrack, socat, the image tools (mmdebstrap, umoci, skopeo, buildah) and gcc (the pause program);
#  - npm dependencies, the project's Node 24 among them;
#  - the binaries, built from their upstream Go modules into a cache outside the repo: etcd, kube-apiserver,
#    kube-controller-manager, MinIO, kn; kubelet, kube-proxy, kube-scheduler, CoreDNS, kube-router, pause, tinyproxy;
#    Knative Serving and Traefik;
#  - the images: the node's (Debian base, node, python, pause), the cluster services', Knative's and the project's own.
set -euo pipefail
cd "$(dirname "$0")/.."
if (($#)); then
  echo "usage: $0 (no arguments: it installs and builds everything the platform needs)" >&2
  exit 2
fi
# The project's own Node (package.json's "node" package) comes first, as in npm scripts: the machine's may be older.
export PATH="$PWD/node_modules/.bin:$PATH"

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v go >/dev/null || missing+=(golang-go)
# devcluster/ocean-assets.ts compresses DDOs with it, and tests serve files into the node's namespace with it.
command -v python3 >/dev/null || missing+=(python3)
# Debian package → a file it installs (gcc and libc6-dev link the pause program statically).
node_missing=()
for pkg in containerd:/usr/bin/containerd runc:/usr/sbin/runc containernetworking-plugins:/usr/lib/cni/bridge \
  iptables:/usr/sbin/iptables ipset:/usr/sbin/ipset conntrack:/usr/sbin/conntrack socat:/usr/bin/socat \
  mmdebstrap:/usr/bin/mmdebstrap umoci:/usr/bin/umoci skopeo:/usr/bin/skopeo buildah:/usr/bin/buildah \
  gcc:/usr/bin/gcc libc6-dev:/usr/lib/x86_64-linux-gnu/libc.a; do
  [ -e "${pkg#*:}" ] || node_missing+=("${pkg%%:*}")
done
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
bash devcluster/build-binaries.sh real-node
bash devcluster/build-binaries.sh knative
bash devcluster/real-node/build-images.sh all
bash devcluster/real-node/build-service-images.sh
bash devcluster/knative/build-images.sh
bash devcluster/real-node/build-project-images.sh all
