#!/usr/bin/env bash
# Wraps Knative Serving's five programs and Traefik (built by build-binaries.sh knative) as one-layer images, without
# a registry: each static binary alone in its image, at ko's path (/ko-app/NAME), run as ko's non-root user 65532, so
# Serving's own Deployments run them unchanged but for the image name. Each becomes a docker-archive under
# $C2D_CACHE/images, keyed by this script and the binary's digest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
source "$here/../versions.env"
cache=${C2D_CACHE:-$HOME/.cache/c2d-devcluster}
out="$cache/images"
mkdir -p "$out" "$cache/build"
log() { printf '[knative-images %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
exec 9>"$out/.knative-lock"
flock 9

script_key=$(sha256sum < "$0" | cut -c1-12)
# The names the Deployments and config-deployment's queue-sidecar-image use. Knative resolves no tag of dev.local
# (registries-skipping-tag-resolving's default), so a revision never asks a registry for these.
registry=dev.local/knative

# wrap NAME BINARY REF: BINARY as /ko-app/NAME in a one-layer image REF.
wrap() {
  local name=$1 bin=$2 ref=$3 key file
  [[ -x $bin ]] || { echo "$bin missing: run devcluster/build-binaries.sh knative" >&2; exit 1; }
  key=$(printf '%s %s' "$script_key" "$(sha256sum < "$bin")" | sha256sum | cut -c1-12)
  file="$out/knative-$name-$key.tar"
  if [[ ! -f $file ]]; then
    local work="$cache/build/image-knative-$name" layout bundle
    layout="$work/oci" bundle="$work/bundle"
    rm -rf "$work" && mkdir -p "$work"
    umoci init --layout "$layout"
    umoci new --image "$layout:img"
    umoci unpack --image "$layout:img" "$bundle"
    install -D -m 0755 "$bin" "$bundle/rootfs/ko-app/$name"
    mkdir -p "$bundle/rootfs/tmp" && chmod 1777 "$bundle/rootfs/tmp"
    umoci repack --image "$layout:img" "$bundle"
    umoci config --image "$layout:img" --config.user 65532 --config.entrypoint "/ko-app/$name" \
      --config.env KO_DATA_PATH=/var/run/ko
    rm -f "$file.tmp"
    skopeo copy --quiet "oci:$layout:img" "docker-archive:$file.tmp:$ref"
    mv "$file.tmp" "$file"
    rm -rf "$work"
    find "$out" -maxdepth 1 -name "knative-$name-*.tar" ! -path "$file" -delete
    log "$ref: done"
  else
    log "$ref cached"
  fi
  echo "$file" > "$out/knative-$name.current"
}

serving="$cache/bin/knative-serving-$KNATIVE_SERVING_VERSION"
for cmd in controller activator autoscaler queue webhook; do
  wrap "$cmd" "$serving/$cmd" "$registry/$cmd:$KNATIVE_SERVING_VERSION"
done
wrap traefik "$cache/bin/traefik-$TRAEFIK_VERSION" "dev.local/traefik:$TRAEFIK_VERSION"
