#!/usr/bin/env bash
# Deploys every function as a Knative Service with the kn CLI, then the HTTPRoutes that put them behind one
# provider base URL.
#
#   knative/deploy.sh REGISTRY NAMESPACE [--tag TAG] [--jobs-namespace NS] [--local-gateway NS/SERVICE] [--no-wait]
#                     [--kubeconfig FILE]
#
#   REGISTRY          where the function image was pushed, e.g. ghcr.io/acme (the image is REGISTRY/c2d/functions:TAG)
#   NAMESPACE         the control-plane namespace the manifests created (c2d-system): the functions' ServiceAccounts,
#                     the c2d-provider ConfigMap and the c2d-provider-key and c2d-results-store Secrets live there
#   --tag TAG         image tag (default 0.1.0)
#   --jobs-namespace  where jobs run (default c2d-jobs)
#   --local-gateway   the Service your Knative ingress serves cluster-local services on, as NAMESPACE/NAME (default
#                     traefik/traefik-private, Traefik's private entrypoint; Knative's own Istio or Kourier
#                     installs call it knative-local-gateway); the routes send every request there
#   --no-wait         do not wait for each revision to become ready (kn service apply --no-wait)
#   --kubeconfig FILE the cluster to deploy to (default: kubectl's and kn's usual lookup)
#
# Needs kn (or the path in $KN) and kubectl. Each function's settings are in knative/<function>.yaml; the script
# adds only the image, the namespaces and the wait mode, so `kn service apply` is idempotent: a second run with the
# same arguments changes nothing.
set -euo pipefail

FUNCTIONS=(info nonce start status stop delete result logs environments initialize encrypt auth)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
  sed -n '5,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
fail() {
  echo "deploy.sh: $*" >&2
  exit 1
}

dns_label='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
# host[:port] followed by lower-case path components, as a Docker reference allows.
registry_re='^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$'
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'

positional=()
tag=0.1.0
jobs_namespace=c2d-jobs
local_gateway=traefik/traefik-private
wait_flag=--wait
kubeconfig=
while (($#)); do
  case "$1" in
    --no-wait) wait_flag=--no-wait ;;
    --tag) (($# >= 2)) || usage; tag="$2"; shift ;;
    --tag=*) tag="${1#--tag=}" ;;
    --jobs-namespace) (($# >= 2)) || usage; jobs_namespace="$2"; shift ;;
    --jobs-namespace=*) jobs_namespace="${1#--jobs-namespace=}" ;;
    --local-gateway) (($# >= 2)) || usage; local_gateway="$2"; shift ;;
    --local-gateway=*) local_gateway="${1#--local-gateway=}" ;;
    --kubeconfig) (($# >= 2)) || usage; kubeconfig="$2"; shift ;;
    --kubeconfig=*) kubeconfig="${1#--kubeconfig=}" ;;
    -h | --help) usage ;;
    -*) echo "deploy.sh: unknown option $1" >&2; usage ;;
    *) positional+=("$1") ;;
  esac
  shift
done
((${#positional[@]} == 2)) || usage
registry="${positional[0]}"
namespace="${positional[1]}"

[[ "$registry" =~ $registry_re ]] || fail "REGISTRY must be an image registry path like ghcr.io/acme or localhost:5000/team (got '$registry')"
[[ "$namespace" =~ $dns_label ]] || fail "NAMESPACE must be a DNS label (got '$namespace')"
[[ "$jobs_namespace" =~ $dns_label ]] || fail "--jobs-namespace must be a DNS label (got '$jobs_namespace')"
[[ "$tag" =~ $tag_re ]] || fail "--tag must be an image tag (got '$tag')"
gateway_namespace="${local_gateway%%/*}"
gateway_service="${local_gateway#*/}"
[[ "$local_gateway" == */* && "$gateway_namespace" =~ $dns_label && "$gateway_service" =~ $dns_label ]] ||
  fail "--local-gateway must be NAMESPACE/SERVICE, two DNS labels (got '$local_gateway')"
kube_args=()
if [[ -n "$kubeconfig" ]]; then
  [[ -f "$kubeconfig" && -r "$kubeconfig" ]] || fail "--kubeconfig: no readable file '$kubeconfig'"
  kube_args=(--kubeconfig "$kubeconfig")
fi
kn="${KN:-kn}"
command -v "$kn" >/dev/null || fail "kn not found (install the Knative CLI or set KN to its path)"
command -v kubectl >/dev/null || fail "kubectl not found"
image="$registry/c2d/functions:$tag"

# What the Knative Services reference must exist first, or revisions fail at start-up far from this script.
missing=()
for fn in "${FUNCTIONS[@]}"; do
  kubectl "${kube_args[@]}" -n "$namespace" get serviceaccount "c2d-fn-$fn" -o name >/dev/null 2>&1 || missing+=("serviceaccount/c2d-fn-$fn")
done
for ref in configmap/c2d-provider secret/c2d-provider-key secret/c2d-results-store; do
  kubectl "${kube_args[@]}" -n "$namespace" get "$ref" -o name >/dev/null 2>&1 || missing+=("$ref")
done
((${#missing[@]} == 0)) || fail "missing in namespace $namespace: ${missing[*]} (apply manifests/ and create the settings; see docs/deploy.md)"
kubectl "${kube_args[@]}" -n "$gateway_namespace" get service "$gateway_service" -o name >/dev/null 2>&1 ||
  fail "no Service $gateway_service in namespace $gateway_namespace: install your Knative ingress, or name its local gateway with --local-gateway"

for fn in "${FUNCTIONS[@]}"; do
  echo "deploying c2d-$fn ($image)"
  "$kn" "${kube_args[@]}" service apply "c2d-$fn" \
    --namespace "$namespace" \
    --filename "$here/$fn.yaml" \
    --image "$image" \
    --env "SYSTEM_NAMESPACE=$namespace" \
    --env "JOBS_NAMESPACE=$jobs_namespace" \
    "$wait_flag"
done

# The routes reach the local gateway in its own namespace, which has to permit it.
echo "applying ReferenceGrant c2d-provider-routes in $gateway_namespace"
sed -e "s/^      namespace: c2d-system\$/      namespace: $namespace/" \
  -e "s/^      name: traefik-private\$/      name: $gateway_service/" "$here/referencegrant.yaml" |
  kubectl "${kube_args[@]}" -n "$gateway_namespace" apply -f -
# Each rule rewrites the Host to its function's cluster-local name, which includes the namespace.
echo "applying HTTPRoutes c2d-provider and c2d-provider-v2"
sed -e "s/\.c2d-system\.svc\.cluster\.local\$/.$namespace.svc.cluster.local/" \
  -e "s/^          namespace: traefik\$/          namespace: $gateway_namespace/" \
  -e "s/^          name: traefik-private\$/          name: $gateway_service/" "$here/httproute.yaml" |
  kubectl "${kube_args[@]}" -n "$namespace" apply -f -
