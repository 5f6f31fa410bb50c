#!/usr/bin/env bash
# Builds the project's own images from docker/*.Dockerfile, unmodified, with buildah and no registry: the base name
# the Dockerfiles use (node:24.21.0-bookworm-slim) is the real node's node stand-in (build-images.sh) plus npm, which
# the official image ships and the Dockerfiles' build stages run. Each image becomes a docker-archive named as the
# manifests and pod specs name it, cached in $C2D_CACHE/images under a key of its inputs: this script, the base
# image, the Dockerfile and the content of every file its COPY lines bring in.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../versions.env
source "$here/../versions.env"
cache=${C2D_CACHE:-$HOME/.cache/c2d-devcluster}
out="$cache/images"
log() { printf '[project-images %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# buildah's overlay storage mounts as it works: a mount namespace of its own takes every mount with it when the
# build ends, however it ends.
if [[ -z ${C2D_BUILD_NS:-} ]]; then
  exec unshare --mount --propagation private env C2D_BUILD_NS=1 bash "$0" "$@"
fi

mkdir -p "$out"
# buildah keeps a blob-info cache in /var/lib/containers whatever its --root: an overlay on /var/lib, its upper layer
# a tmpfs of this namespace, lets it write there without a trace on the host.
varlib="$cache/buildah/var-lib"
mkdir -p "$varlib"
mount -t tmpfs -o mode=0700 c2d-build-var-lib "$varlib"
mkdir "$varlib/upper" "$varlib/work"
mount -t overlay -o "lowerdir=/var/lib,upperdir=$varlib/upper,workdir=$varlib/work" c2d-build-var-lib /var/lib
exec 9>"$out/.project-lock"
flock 9

script_key=$(sha256sum < "$0" | cut -c1-12)
node_archive=$(cat "$out/node.current" 2>/dev/null) || true
[[ -f ${node_archive:-} ]] || { echo "the node image is missing: run devcluster/real-node/build-images.sh node" >&2; exit 1; }
base_ref="docker.io/library/node:$NODE_IMAGE_VERSION-bookworm-slim"
# The layer store, kept between builds so that the three images share their `npm ci` layers.
storage=(--root "$cache/buildah/root" --runroot "$cache/buildah/run" --storage-driver overlay)
b() { buildah "${storage[@]}" "$@"; }
# Working containers an interrupted build left behind (the lock above keeps other builds out of this store).
b rm --all >/dev/null

# The base: the node stand-in plus npm from the npm registry, under the name the Dockerfiles build from.
build_base() {
  local key
  key=$(printf '%s %s %s' "$script_key" "$(basename "$node_archive")" "$NODE_IMAGE_NPM_VERSION" | sha256sum | cut -c1-12)
  if [[ $(b inspect --type image --format '{{index .ImageAnnotations "c2d.base-key"}}' "$base_ref" 2>/dev/null) == "$key" ]]; then
    log "base $base_ref cached"
    return
  fi
  log "base $base_ref: node stand-in + npm@$NODE_IMAGE_NPM_VERSION"
  # Every layer in the store was built on the previous base, cache included: none of it serves again.
  b rmi --all --force >/dev/null 2>&1 || true
  local work="$cache/build/project-base" ctr
  rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && host_npm pack --silent "npm@$NODE_IMAGE_NPM_VERSION" >/dev/null)
  mkdir -p "$work/lib/node_modules" && tar -C "$work" -xzf "$work"/npm-*.tgz && mv "$work/package" "$work/lib/node_modules/npm"
  ctr=$(b from --quiet --pull-never "docker-archive:$node_archive")
  b copy "$ctr" "$work/lib/node_modules/npm" /usr/local/lib/node_modules/npm >/dev/null
  b run --isolation chroot "$ctr" -- sh -c \
    'ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx'
  b config --annotation "c2d.base-key=$key" "$ctr"
  b commit --quiet --rm "$ctr" "$base_ref" >/dev/null
  rm -rf "$work"
  log "base $base_ref: done"
}

# The files a Dockerfile's COPY lines (not --from) bring in, as git knows them, tracked or not yet ignored.
copied_files() {
  local sources
  sources=$(awk 'toupper($1) == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) print $i }' "$1")
  # shellcheck disable=SC2086
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard -- $sources | sort -z | xargs -0 sha256sum)
}

# The host's npm as the user runs it: with the project's node first on PATH (npm scripts, ensure-deps.sh), npm would
# look for its global configuration beside that node instead, and under npm scripts and npx the variables npm exports
# point there too (npm_config_globalconfig=…/node_modules/node/etc/npmrc): the build then lacked the host's cafile.
host_npm() {
  local path
  path=$(tr ':' '\n' <<< "$PATH" | grep -v '/node_modules/\.bin$' | paste -sd:)
  env -u npm_config_globalconfig -u npm_config_global_prefix -u npm_config_prefix -u npm_config_local_prefix \
    PATH="$path" npm "$@"
}

# project NAME DOCKERFILE REF: one image, built unless its archive is cached.
project() {
  local name=$1 dockerfile="$repo/docker/$2" ref=$3 key file
  key=$( (echo "$script_key $(basename "$node_archive") $NODE_IMAGE_NPM_VERSION"; cat "$dockerfile"; copied_files "$dockerfile") | sha256sum | cut -c1-12)
  file="$out/$name-$key.tar"
  [[ -f $file ]] && { log "$ref cached"; echo "$file" > "$out/$name.current"; return; }
  build_base
  log "$ref: buildah bud docker/$2"
  local start=$SECONDS
  # The host's CA bundle and npm configuration serve `npm ci` (outbound TLS is re-signed on these machines); they
  # are mounted for the build's RUN steps only, so neither ends up in a layer.
  local mounts=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  local user_npmrc global_npmrc cafile
  user_npmrc=$(host_npm config get userconfig) global_npmrc=$(host_npm config get globalconfig)
  cafile=$(host_npm config get cafile)
  [[ -f $user_npmrc ]] && mounts+=(--volume "$user_npmrc:/root/.npmrc:ro")
  # The image's npm (installed under /usr/local) reads its global configuration there.
  [[ -f $global_npmrc ]] && mounts+=(--volume "$global_npmrc:/usr/local/etc/npmrc:ro")
  [[ -f $cafile && $cafile != /etc/ssl/certs/ca-certificates.crt ]] && mounts+=(--volume "$cafile:$cafile:ro")
  b bud --quiet --layers --pull-never --isolation chroot --network=host "${mounts[@]}" \
    --build-arg "NODE_IMAGE=$base_ref" -f "$dockerfile" -t "$ref" "$repo" >/dev/null
  rm -f "$file.tmp"
  b push --quiet "$ref" "docker-archive:$file.tmp:$ref"
  mv "$file.tmp" "$file"
  echo "$file" > "$out/$name.current"
  # Any change to the sources makes a new archive of about 400 MB: keep only the newest of each image.
  find "$out" -maxdepth 1 -name "$name-*.tar" ! -path "$file" -delete
  log "$ref: done in $((SECONDS - start)) s"
}

functions() { project functions functions.Dockerfile docker.io/c2d/functions:0.1.0; }
engine() { project engine engine.Dockerfile docker.io/c2d/engine:0.1.0; }
pod_programs() { project pod-programs pod-programs.Dockerfile docker.io/c2d/pod-programs:0.1.0; }

case ${1:-all} in
  all) functions; engine; pod_programs ;;
  functions) functions ;;
  engine) engine ;;
  pod-programs) pod_programs ;;
  *) echo "usage: $0 [all|functions|engine|pod-programs]" >&2; exit 2 ;;
esac
