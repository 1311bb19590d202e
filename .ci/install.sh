#!/usr/bin/env bash
# Installs what CI needs beyond the machine's base image, idempotently and quietly:
#   - Debian packages (PostgreSQL server, etcd server, curl, nghttp2-client for h2load, Chromium
#     and a font for the browser tests, and python3-venv when the python3 on PATH cannot make a
#     venv); `apt-get update` runs once, and only when something is missing.
#   - grpcurl, grpc-health-probe and ghz (the bench's gRPC load generator), pinned in
#     .ci/tools/go.mod, built into $CI_TOOLS_BIN
#     (skipped when the binaries already match the pinned go.sum).
#   - Consul (CI_CONSUL_VERSION in lib.sh), built from the module source into
#     $CI_TOOLS_DIR/consul-<version>/consul (skipped when that binary reports the version).
#   - the observability stack (.ci/install-observability.sh): Prometheus, Jaeger v2, Trellis'
#     OpenTelemetry Collector, Elasticsearch; built or fetched once, cached outside the clone.
#   - deployment tools (.ci/install-deploy.sh): podman, buildah, mmdebstrap, kwok, kubeconform,
#     CRDs, hadolint, Envoy; the Kubernetes binaries are built in the background.
#   - a Python venv ($CI_VENV) with grpcio, grpcio-tools, grpcio-status,
#     googleapis-common-protos and protobuf (skipped when they already import).
# Runs alone (`bash .ci/install.sh`) or from .ci/run.
set -euo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CI_ROOT"

LOGDIR="$(mktemp -d)"
trap 'rm -rf "$LOGDIR"' EXIT

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# --- Debian packages ------------------------------------------------------------------
PYTHON="$(command -v python3 || true)"
want=(postgresql etcd-server curl nghttp2-client chromium fonts-dejavu-core)
want+=(redis-server) # rate limits shared through Redis (npm run test:redis); the test starts its own server
if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  # The python3 on PATH cannot create a venv with pip: use Debian's with python3-venv.
  want+=(python3 python3-venv)
  PYTHON=/usr/bin/python3
fi
missing=()
for p in "${want[@]}"; do
  deb_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "apt: installing ${missing[*]}"
  ci_quiet "$LOGDIR/apt-update.log" as_root apt-get -o DPkg::Lock::Timeout=300 update -qq
  ci_quiet "$LOGDIR/apt-install.log" as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${missing[@]}"
else
  echo "apt: ${want[*]} already installed"
fi

# --- Go tools -------------------------------------------------------------------------
if ! command -v go >/dev/null 2>&1; then
  ci_err "go is not on PATH (this machine kind ships Go; the Go CLI tools cannot be built)"
  exit 1
fi
stamp="$CI_TOOLS_BIN/.go.sum.sha256"
want_sum="$(sha256sum .ci/tools/go.mod .ci/tools/go.sum | sha256sum | cut -d' ' -f1)"
if [ -x "$CI_TOOLS_BIN/grpcurl" ] && [ -x "$CI_TOOLS_BIN/grpc-health-probe" ] &&
  [ -x "$CI_TOOLS_BIN/ghz" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want_sum" ]; then
  echo "go tools: grpcurl, grpc-health-probe and ghz already installed in $CI_TOOLS_BIN"
else
  echo "go tools: building grpcurl, grpc-health-probe and ghz into $CI_TOOLS_BIN"
  mkdir -p "$CI_TOOLS_BIN"
  (cd .ci/tools && ci_quiet "$LOGDIR/go-install.log" env GOBIN="$CI_TOOLS_BIN" go install tool)
  printf '%s\n' "$want_sum" >"$stamp"
fi
grpcurl -version 2>&1 | sed 's/^/  /'
grpc-health-probe -version 2>&1 | sed 's/^/  /'
# ghz built by `go install tool` has no version stamped in; the module version is in the binary.
go version -m "$CI_TOOLS_BIN/ghz" | awk '$1 == "mod" { print "  ghz " $3 }'
h2load --version 2>&1 | head -n 1 | sed 's/^/  /'

# --- Consul ---------------------------------------------------------------------------
# `go install github.com/hashicorp/consul@…` is refused (its go.mod replaces its nested
# modules with local paths), so build a copy of the module with the replace block removed
# (the require lines already name published versions). GONOSUMDB for Consul's own modules
# only: the checksum database lacks one of them. ~5-7 min once; cached by version.
build_consul() {
  local scratch src
  scratch="$(mktemp -d)"
  (
    set -e
    cd "$scratch"
    export GOWORK=off GONOSUMDB=github.com/hashicorp/consul
    go mod init trellis-ci/consul-scratch >/dev/null 2>&1
    go mod download "github.com/hashicorp/consul@v$CI_CONSUL_VERSION"
    src="$(go env GOMODCACHE)/github.com/hashicorp/consul@v$CI_CONSUL_VERSION"
    cp -r "$src" module
    chmod -R u+w module
    cd module
    rm -rf vendor
    awk '/^replace \($/ { skip = 1; next } skip && /^\)$/ { skip = 0; next } !skip && !/^replace /' go.mod >go.mod.new
    mv go.mod.new go.mod
    export GOFLAGS=-mod=mod
    go mod download
    mkdir -p "$(dirname "$CI_CONSUL_BIN")"
    go build -trimpath -o "$CI_CONSUL_BIN.tmp" .
    mv "$CI_CONSUL_BIN.tmp" "$CI_CONSUL_BIN"
  )
  local rc=$?
  rm -rf "$scratch"
  return "$rc"
}
if ci_consul_version_ok; then
  echo "consul: $CI_CONSUL_BIN already built"
else
  echo "consul: building v$CI_CONSUL_VERSION into $CI_CONSUL_BIN (about 5-7 minutes, once)"
  ci_quiet "$LOGDIR/consul-build.log" build_consul
  ci_consul_version_ok || {
    ci_err "the consul built at $CI_CONSUL_BIN does not report v$CI_CONSUL_VERSION"
    exit 1
  }
fi
"$CI_CONSUL_BIN" version | sed -n '1s/^/  /p'  # sed reads it all: head would SIGPIPE consul under pipefail

# --- Observability stack --------------------------------------------------------------
# shellcheck source=.ci/install-observability.sh
. "$CI_ROOT/.ci/install-observability.sh"

# --- Python venv ----------------------------------------------------------------------
py_ok() {
  [ -x "$CI_VENV/bin/python" ] &&
    "$CI_VENV/bin/python" -c 'import grpc, grpc_tools.protoc, grpc_status.rpc_status, google.rpc.error_details_pb2, google.protobuf' \
      >/dev/null 2>&1
}
if py_ok; then
  echo "python: venv $CI_VENV already has ${CI_PY_PACKAGES[*]}"
else
  echo "python: creating venv $CI_VENV with ${CI_PY_PACKAGES[*]}"
  ci_quiet "$LOGDIR/venv.log" "$PYTHON" -m venv --clear "$CI_VENV"
  ci_quiet "$LOGDIR/pip.log" "$CI_VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "${CI_PY_PACKAGES[@]}"
  py_ok || {
    ci_err "the venv at $CI_VENV still cannot import grpc / grpc_tools / grpc_status"
    exit 1
  }
fi
"$CI_VENV/bin/python" -m pip list --disable-pip-version-check 2>/dev/null |
  grep -Ei '^(grpcio|grpcio-tools|grpcio-status|googleapis-common-protos|protobuf) ' | sed 's/^/  /'

# --- Deployment: podman/buildah/mmdebstrap, kwok, kubeconform, CRDs, Envoy; the Kubernetes
# binaries build in the background (.ci/install-deploy.sh) ---------------------------------
# shellcheck source=.ci/install-deploy.sh
. "$CI_ROOT/.ci/install-deploy.sh"
