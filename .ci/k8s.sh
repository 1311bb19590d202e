#!/usr/bin/env bash
# Kubernetes checks of deploy/k8s (issue 14), against real binaries built by install.sh:
#   validate  every overlay rendered (kubectl kustomize), checked offline by kubeconform
#             (v1.32 strict schemas; custom resources are left to the server), then applied to
#             a real kube-apiserver on Debian's etcd with the ServiceMonitor and Istio CRDs
#             installed: kubectl apply --dry-run=server --validate=strict; then the manifests
#             test (deploy/k8s/test: ports, variables, drain budget against the services' code)
#   live      kube-apiserver + controller-manager + scheduler + kwok fake nodes: the prod
#             overlay applied for real, a rolling update watched (never fewer ready pods than
#             wanted: maxUnavailable 0) and the PodDisruptionBudget enforced on evictions
# Usage: bash .ci/k8s.sh [validate|live|all]   (default all; each phase prints its duration)
set -uo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CI_ROOT" || exit 1

OVERLAYS=(dev prod mesh)
CUSTOM_KINDS=ServiceMonitor,PeerAuthentication,DestinationRule,VirtualService

render() { kubectl kustomize "deploy/k8s/overlays/$1"; }

validate() {
  local rc=0 o out
  out="$(mktemp -d)" || return 1
  mkdir -p "$out/json"
  # shellcheck disable=SC2064
  trap "rm -rf '$out'; ci_kube_stop" RETURN
  for o in "${OVERLAYS[@]}"; do
    render "$o" >"$out/$o.yaml" || { ci_err "kustomize: overlay $o does not render"; return 1; }
    echo "overlay $o: $(grep -c '^kind:' "$out/$o.yaml") objects"
  done
  echo "--- kubeconform (offline, strict, v${CI_KUBE_VERSION%.*} schemas; $CUSTOM_KINDS checked by the server below)"
  for o in "${OVERLAYS[@]}"; do
    kubeconform -strict -summary -output text \
      -schema-location "$CI_KUBECONFORM_SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      -skip "$CUSTOM_KINDS" "$out/$o.yaml" | sed "s/^/  $o: /" || rc=1
  done
  echo "--- kube-apiserver v$CI_KUBE_VERSION: kubectl apply --dry-run=server --validate=strict"
  ci_kube_wait || return 1
  ci_kube_start || return 1
  kubectl apply --server-side -f "$CI_CRD_DIR/servicemonitors.yaml" -f "$CI_CRD_DIR/istio.yaml" >/dev/null || return 1
  kubectl wait --for=condition=Established --timeout=60s crd/servicemonitors.monitoring.coreos.com \
    crd/virtualservices.networking.istio.io crd/destinationrules.networking.istio.io \
    crd/peerauthentications.security.istio.io >/dev/null || return 1
  echo "  CRDs installed: ServiceMonitor (prometheus-operator v$CI_PROM_OPERATOR_VERSION), Istio v$CI_ISTIO_VERSION"
  for o in "${OVERLAYS[@]}"; do
    # The namespace must exist for a server-side dry run of the namespaced objects.
    awk '/^---/ { ns = 0 } /^kind: Namespace$/ { ns = 1 } ns && /^  name: / { print $2 }' "$out/$o.yaml" | while read -r ns; do
      kubectl create namespace "$ns" >/dev/null 2>&1 || true
    done
    # -o json: the objects as the server would store them (defaults applied), for the
    # manifests test below.
    if kubectl apply --dry-run=server --validate=strict -o json -f "$out/$o.yaml" >"$out/json/$o.json" 2>"$out/$o.err"; then
      echo "  $o: $(node -p "JSON.parse(require('fs').readFileSync('$out/json/$o.json', 'utf8')).items.length") objects accepted by the API server"
    else
      ci_err "overlay $o rejected by the API server:"
      cat "$out/$o.err" >&2
      rc=1
    fi
  done
  # The server must reject what is wrong: an unknown field in a Deployment and in a
  # ServiceMonitor (so the checks above are not vacuous).
  # Each must fail with the server's own "unknown field" (not some other error).
  local kind re answer
  while IFS='|' read -r kind re; do
    # (Output captured first: under pipefail, grep -q closing the pipe early would fail it.)
    answer="$(sed "0,/$re/s//  bogusField: 1\n&/" "$out/mesh.yaml" | kubectl apply --dry-run=server --validate=strict -f - 2>&1)"
    if grep -q "$kind.*unknown field \"spec.bogusField\"\|unknown field \"spec.bogusField\".*$kind" <<<"$answer"; then
      echo "  (an unknown field in a $kind is rejected by the server, as it must be)"
    else
      ci_err "the API server did not reject an unknown field in a $kind: strict validation is not in force"
      rc=1
    fi
  done <<'CASES'
Deployment|^  strategy:$
ServiceMonitor|^  jobLabel: .*$
VirtualService|^  hosts:$
CASES
  echo "--- manifests vs the services' code (deploy/k8s/test)"
  K8S_RENDERED_DIR="$out/json" node --test deploy/k8s/test/manifests.test.mjs || rc=1
  return "$rc"
}

# live: the prod overlay applied for real to apiserver + controller-manager + scheduler, kwok
# playing the kubelet of three fake nodes in three zones (deploy/k8s/test/live.test.mjs).
live() {
  local out rc=0 t0=$SECONDS
  out="$(mktemp -d)" || return 1
  # shellcheck disable=SC2064
  trap "rm -rf '$out'; ci_kube_stop" RETURN
  render prod >"$out/prod.yaml" || { ci_err "kustomize: overlay prod does not render"; return 1; }
  ci_kube_wait || return 1
  ci_kube_start full || return 1
  ci_kwok_start || return 1
  kubectl apply --server-side -f "$CI_CRD_DIR/servicemonitors.yaml" >/dev/null || return 1
  kubectl wait --for=condition=Established --timeout=60s crd/servicemonitors.monitoring.coreos.com >/dev/null || return 1
  echo "  control plane + kwok up in $((SECONDS - t0)) s"
  K8S_PROD_YAML="$out/prod.yaml" timeout -k 10 660 node --test --test-timeout=600000 deploy/k8s/test/live.test.mjs || {
    rc=1
    ci_err "live test failed; the control plane's logs:"
    local f
    for f in controller-manager scheduler kwok; do
      [ -f "$CI_KUBE_DIR_RUN/$f.log" ] && tail -n 20 "$CI_KUBE_DIR_RUN/$f.log" >&2
    done
  }
  return "$rc"
}

# timed NAME FUNCTION: run one phase and print how long it took.
timed() {
  local t0=$SECONDS rc=0
  echo "=== k8s $1"
  "$2" || rc=$?
  echo "=== k8s $1: $([ "$rc" -eq 0 ] && echo ok || echo FAILED) in $((SECONDS - t0)) s"
  return "$rc"
}

case "${1:-all}" in
  validate) timed validate validate ;;
  live) timed live live ;;
  all)
    rc=0
    timed validate validate || rc=1
    timed live live || rc=1
    exit "$rc"
    ;;
  *) echo "usage: $0 [validate|live|all]" >&2; exit 2 ;;
esac
