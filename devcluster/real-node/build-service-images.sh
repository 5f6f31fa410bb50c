#!/usr/bin/env bash
# Wraps the cluster services that run as pods on the real node (CoreDNS, built by build-binaries.sh real-node) as
# one-layer images, without a registry: the static binary alone in its image, run as a non-root user. Each becomes a
# docker-archive under $C2D_CACHE/images named as cluster-dns.ts's Deployment names it, keyed by this script and the
# binary's digest. (The Debian-based images and pause are build-images.sh's.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
source "$here/../versions.env"
cache=${C2D_CACHE:-$HOME/.cache/c2d-devcluster}
out="$cache/images"
mkdir -p "$out" "$cache/build"
log() { printf '[service-images %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
exec 9>"$out/.service-lock"
flock 9

script_key=$(sha256sum < "$0" | cut -c1-12)

# wrap NAME BINARY REF: BINARY as /NAME in a one-layer image REF, its entrypoint, run as user 65532.
wrap() {
  local name=$1 bin=$2 ref=$3 key file
  [[ -x $bin ]] || { echo "$bin missing: run devcluster/build-binaries.sh real-node" >&2; exit 1; }
  key=$(printf '%s %s' "$script_key" "$(sha256sum < "$bin")" | sha256sum | cut -c1-12)
  file="$out/$name-$key.tar"
  if [[ ! -f $file ]]; then
    local work="$cache/build/image-$name" layout bundle
    layout="$work/oci" bundle="$work/bundle"
    rm -rf "$work" && mkdir -p "$work"
    umoci init --layout "$layout"
    umoci new --image "$layout:img"
    umoci unpack --image "$layout:img" "$bundle"
    install -D -m 0755 "$bin" "$bundle/rootfs/$name"
    umoci repack --image "$layout:img" "$bundle"
    umoci config --image "$layout:img" --config.user 65532:65532 --config.entrypoint "/$name"
    rm -f "$file.tmp"
    skopeo copy --quiet "oci:$layout:img" "docker-archive:$file.tmp:$ref"
    mv "$file.tmp" "$file"
    rm -rf "$work"
    find "$out" -maxdepth 1 -name "$name-*.tar" ! -path "$file" -delete
    log "$ref: done"
  else
    log "$ref cached"
  fi
  echo "$file" > "$out/$name.current"
}

case ${1:-all} in
  all | coredns) wrap coredns "$cache/bin/coredns-$COREDNS_VERSION" "c2d.local/coredns:$COREDNS_VERSION" ;;
  *) echo "usage: $0 [all|coredns]" >&2; exit 2 ;;
esac
