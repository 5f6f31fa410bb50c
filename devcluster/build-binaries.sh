#!/usr/bin/env bash
# Builds the dev cluster's binaries from their upstream Go modules at the pinned versions and caches them
# outside the repository (keyed by version) so that clean clones reuse them. Safe to run repeatedly: a binary
# that is already cached is not rebuilt. Prints progress; a cold build takes many minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${C2D_CACHE:-$HOME/.cache/c2d-devcluster}
mkdir -p "$cache/bin" "$cache/build" "$cache/crds"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
# kn depends on a knative.dev/client-pkg pseudo-version that the proxy serves but the checksum database does not
# list; only knative.dev modules skip that lookup.
export GONOSUMDB=${GONOSUMDB:-knative.dev}

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# wrapper_module DIR MODULE VERSION: a throwaway main module that requires MODULE@VERSION.
wrapper_module() {
  local dir=$1 module=$2 version=$3
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && go mod init c2d.local/build >/dev/null 2>&1 && go mod edit -require="$module@$version")
}

# build_kubernetes SET CMD...: the commands CMD of k8s.io/kubernetes into bin/SET-VERSION/, through a wrapper module
# whose tools file imports exactly those commands (written before `go mod tidy`, so go.sum covers all of them).
build_kubernetes() {
  local set=$1; shift
  local v=$KUBERNETES_VERSION out="$cache/bin/$set-$KUBERNETES_VERSION" cmd cached=1
  for cmd in "$@"; do [[ -x $out/$cmd ]] || cached=0; done
  ((cached)) && { log "$set $v cached"; return; }
  log "$set $v: resolving staging modules"
  local dir="$cache/build/$set" staging=v0.${v#v1.}
  wrapper_module "$dir" k8s.io/kubernetes "$v"
  local gomod
  gomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  # k8s.io/kubernetes requires every staging module at v0.0.0 and replaces it with ./staging/...: a wrapper
  # module has to point each one at its published v0.Y.Z instead.
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | while read -r m; do
    (cd "$dir" && go mod edit -replace="$m=$m@$staging")
  done
  local pkgs=()
  for cmd in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  { printf '//go:build tools\n\npackage build\n\nimport (\n'; printf '\t_ "%s"\n' "${pkgs[@]}"; printf ')\n'; } > "$dir/tools.go"
  log "$set $v: downloading modules"
  (cd "$dir" && { go mod tidy -e >tidy.log 2>&1 || true; } && go mod download)
  log "$set $v: compiling $*"
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  (cd "$dir" && go build -tags tools -trimpath -ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${staging#v0.}" \
    -o "$out.tmp/" "${pkgs[@]}")
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "$set $v: done"
}

# The pause container's program, from the kubernetes module's source, linked statically (the image holds nothing
# else).
build_pause() {
  local out="$cache/bin/pause-$KUBERNETES_VERSION"
  [[ -x $out ]] && { log "pause $KUBERNETES_VERSION cached"; return; }
  local dir="$cache/build/pause" src
  wrapper_module "$dir" k8s.io/kubernetes "$KUBERNETES_VERSION"
  src=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  log "pause $KUBERNETES_VERSION: compiling"
  gcc -Os -Wall -Werror -static -DVERSION="$KUBERNETES_VERSION" -o "$out.tmp" "$src/build/pause/linux/pause.c"
  strip "$out.tmp"
  mv "$out.tmp" "$out"
  log "pause $KUBERNETES_VERSION: done"
}

# build_one NAME MODULE VERSION PACKAGE: a single binary from a module's main package.
build_one() {
  local name=$1 module=$2 version=$3 pkg=$4 out="$cache/bin/$1-$3"
  [[ -x $out ]] && { log "$name $version cached"; return; }
  local dir="$cache/build/$name"
  wrapper_module "$dir" "$module" "$version"
  (cd "$dir" && printf '//go:build tools\n\npackage build\n\nimport _ "%s"\n' "$pkg" > tools.go)
  log "$name $version: downloading modules"
  (cd "$dir" && { go mod tidy -e >tidy.log 2>&1 || true; } && go mod download)
  log "$name $version: compiling"
  (cd "$dir" && go build -tags tools -trimpath -ldflags="-s -w" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  log "$name $version: done"
}

# CRDs ship as YAML inside the upstream modules; copy the pinned ones out of the module cache.
fetch_crds() {
  local out="$cache/crds/knative-$KNATIVE_SERVING_VERSION-gateway-$GATEWAY_API_VERSION"
  [[ -d $out ]] && { log "CRDs cached"; return; }
  local dir="$cache/build/crds" serving gateway
  wrapper_module "$dir" knative.dev/serving "$KNATIVE_SERVING_VERSION"
  serving=$(cd "$dir" && go mod download -json "knative.dev/serving@$KNATIVE_SERVING_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  gateway=$(cd "$dir" && go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  mkdir -p "$out.tmp"
  cp "$serving"/config/core/300-resources/*.yaml "$out.tmp/"
  cp "$gateway"/config/crd/standard/*.yaml "$out.tmp/"
  chmod u+w "$out.tmp"/*
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "CRDs: $(ls "$out" | wc -l) files"
}

# Knative Serving's five programs at the version the CRDs pin, through one wrapper module (serving's go.mod needs no
# replace lines), into bin/knative-serving-VERSION/.
build_knative_serving() {
  local v=$KNATIVE_SERVING_VERSION out="$cache/bin/knative-serving-$KNATIVE_SERVING_VERSION" cmd cached=1
  local cmds=(controller activator autoscaler queue webhook)
  for cmd in "${cmds[@]}"; do [[ -x $out/$cmd ]] || cached=0; done
  ((cached)) && { log "knative-serving $v cached"; return; }
  local dir="$cache/build/knative-serving" pkgs=()
  wrapper_module "$dir" knative.dev/serving "$v"
  for cmd in "${cmds[@]}"; do pkgs+=("knative.dev/serving/cmd/$cmd"); done
  { printf '//go:build tools\n\npackage build\n\nimport (\n'; printf '\t_ "%s"\n' "${pkgs[@]}"; printf ')\n'; } > "$dir/tools.go"
  log "knative-serving $v: downloading modules"
  (cd "$dir" && { go mod tidy -e >tidy.log 2>&1 || true; } && go mod download)
  log "knative-serving $v: compiling ${cmds[*]}"
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  (cd "$dir" && go build -tags tools -trimpath -ldflags="-s -w" -o "$out.tmp/" "${pkgs[@]}")
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "knative-serving $v: done"
}

# Serving's release YAML for its core (Deployments, ConfigMaps, RBAC, webhooks) and the CRDs its module zip lacks:
# the zip drops symlinks, so config/core/300-resources has no Ingress, ServerlessService, Certificate or Image; those
# come from the knative.dev/networking and knative.dev/caching versions serving's go.mod pins.
fetch_knative_config() {
  local out="$cache/crds/knative-serving-config-$KNATIVE_SERVING_VERSION"
  [[ -d $out ]] && { log "knative serving config cached"; return; }
  local dir="$cache/build/knative-config" serving networking caching netv cachev
  wrapper_module "$dir" knative.dev/serving "$KNATIVE_SERVING_VERSION"
  serving=$(cd "$dir" && go mod download -json "knative.dev/serving@$KNATIVE_SERVING_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  netv=$(awk '$1 == "knative.dev/networking" {print $2}' "$serving/go.mod")
  cachev=$(awk '$1 == "knative.dev/caching" {print $2}' "$serving/go.mod")
  networking=$(cd "$dir" && go mod download -json "knative.dev/networking@$netv" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  caching=$(cd "$dir" && go mod download -json "knative.dev/caching@$cachev" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$out.tmp" && mkdir -p "$out.tmp/core" "$out.tmp/crds"
  cp -r "$serving"/config/core/. "$out.tmp/core/"
  cp "$networking"/config/*.yaml "$out.tmp/crds/" 2>/dev/null || true
  cp "$caching"/config/*.yaml "$out.tmp/crds/" 2>/dev/null || true
  chmod -R u+w "$out.tmp"
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "knative serving config: networking $netv, caching $cachev"
}

# Traefik (its native Knative provider is the ingress): a wrapper module has to repeat Traefik's own replace and
# exclude lines, which a dependency's go.mod does not pass on.
build_traefik() {
  local v=$TRAEFIK_VERSION out="$cache/bin/traefik-$TRAEFIK_VERSION"
  [[ -x $out ]] && { log "traefik $v cached"; return; }
  local dir="$cache/build/traefik" gomod
  wrapper_module "$dir" github.com/traefik/traefik/v3 "$v"
  gomod=$(cd "$dir" && go mod download -json "github.com/traefik/traefik/v3@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  awk '/^replace \($/ {r=1; next} /^exclude \($/ {e=1; next} /^\)$/ {r=0; e=0; next}
       r && NF {print "replace", $0} e && NF {print "exclude", $0}
       /^replace [^(]/ || /^exclude [^(]/ {print}' "$gomod" | grep -v '=> \./' >> "$dir/go.mod"
  (cd "$dir" && printf '//go:build tools\n\npackage build\n\nimport _ "github.com/traefik/traefik/v3/cmd/traefik"\n' > tools.go)
  log "traefik $v: downloading modules"
  (cd "$dir" && { go mod tidy -e >tidy.log 2>&1 || true; } && go mod download)
  log "traefik $v: compiling"
  (cd "$dir" && go build -tags tools -trimpath -ldflags="-s -w" -o "$out.tmp" github.com/traefik/traefik/v3/cmd/traefik)
  mv "$out.tmp" "$out"
  log "traefik $v: done"
}

# The Gateway API CRDs (standard channel) at the version Traefik's Gateway provider is built against: it watches every
# kind of that version (BackendTLSPolicy v1 since Gateway API v1.4) and serves no route until each one lists, so the
# base platform's GATEWAY_API_VERSION CRDs are replaced by these where Traefik runs.
fetch_traefik_gateway_crds() {
  local out="$cache/crds/traefik-$TRAEFIK_VERSION-gateway-api"
  [[ -d $out ]] && { log "traefik's Gateway API CRDs cached"; return; }
  local dir="$cache/build/traefik-gateway-crds" gomod gatewayv gateway
  wrapper_module "$dir" github.com/traefik/traefik/v3 "$TRAEFIK_VERSION"
  gomod=$(cd "$dir" && go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  gatewayv=$(awk '$1 == "sigs.k8s.io/gateway-api" {print $2}' "$gomod")
  gateway=$(cd "$dir" && go mod download -json "sigs.k8s.io/gateway-api@$gatewayv" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  cp "$gateway"/config/crd/standard/*.yaml "$out.tmp/"
  chmod u+w "$out.tmp"/*
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "traefik's Gateway API CRDs: gateway-api $gatewayv"
}

# tinyproxy, the HTTP CONNECT proxy the API server reaches the real node's cluster network through (egress selector):
# the binary of Debian's package, unpacked into the cache without installing it (no service, nothing on the host).
fetch_tinyproxy() {
  local out="$cache/bin/tinyproxy-$TINYPROXY_DEB_VERSION"
  [[ -x $out ]] && { log "tinyproxy $TINYPROXY_DEB_VERSION cached"; return; }
  local dir="$cache/build/tinyproxy"
  rm -rf "$dir" && mkdir -p "$dir"
  log "tinyproxy $TINYPROXY_DEB_VERSION: Debian package tinyproxy-bin"
  (cd "$dir" && apt-get download -qq "tinyproxy-bin=$TINYPROXY_DEB_VERSION" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  dpkg-deb -x "$dir"/tinyproxy-bin_*.deb "$dir/x"
  install -m 0755 "$dir/x/usr/bin/tinyproxy" "$out.tmp" && mv "$out.tmp" "$out"
  rm -rf "$dir"
  log "tinyproxy $TINYPROXY_DEB_VERSION: done"
}

what=${1:-all}
case $what in
  all)
    fetch_crds
    build_one etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
    build_kubernetes kubernetes kube-apiserver kube-controller-manager
    build_one kn knative.dev/client "$KNATIVE_CLIENT_VERSION" knative.dev/client/cmd/kn
    build_one minio github.com/minio/minio "$MINIO_VERSION" github.com/minio/minio
    ;;
  kubernetes) build_kubernetes kubernetes kube-apiserver kube-controller-manager ;;
  # The real node's parts, built only on request until the real node is the default platform, so that the
  # existing path (and CI) does not pay for them.
  real-node)
    build_pause
    build_kubernetes kubernetes-node kubelet kube-proxy kube-scheduler
    build_one coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns
    build_one kube-router github.com/cloudnativelabs/kube-router/v2 "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
    fetch_tinyproxy
    ;;
  tinyproxy) fetch_tinyproxy ;;
  kubernetes-node) build_kubernetes kubernetes-node kubelet kube-proxy kube-scheduler ;;
  coredns) build_one coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns ;;
  kube-router) build_one kube-router github.com/cloudnativelabs/kube-router/v2 "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router ;;
  # Knative Serving and its ingress, built only on request until they are part of the default platform.
  knative)
    fetch_knative_config
    build_knative_serving
    build_traefik
    fetch_traefik_gateway_crds
    ;;
  knative-serving) build_knative_serving ;;
  traefik) build_traefik ;;
  traefik-gateway-crds) fetch_traefik_gateway_crds ;;
  pause) build_pause ;;
  etcd) build_one etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 ;;
  kn) build_one kn knative.dev/client "$KNATIVE_CLIENT_VERSION" knative.dev/client/cmd/kn ;;
  minio) build_one minio github.com/minio/minio "$MINIO_VERSION" github.com/minio/minio ;;
  crds) fetch_crds ;;
  *) echo "usage: $0 [all|kubernetes|etcd|kn|minio|crds|real-node|kubernetes-node|coredns|kube-router|pause|tinyproxy|knative|knative-serving|traefik|traefik-gateway-crds]" >&2; exit 2 ;;
esac
log "all requested binaries are in $cache/bin"
