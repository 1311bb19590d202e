# shellcheck shell=bash
# Shared helpers for .ci/run, .ci/install.sh and .ci/interop.sh. Source it; don't run it.
#
# Paths (all overridable from the environment):
#   CI_TOOLS_DIR  Go CLI tools (grpcurl, grpc-health-probe); outside the clone so that a
#                 re-run on the same machine skips the build.   default ~/.cache/trellis-ci
#   CI_VENV       Python venv for the interop client.           default .ci/.venv (gitignored)
#   CI_ARTIFACTS_DIR  what a run keeps for people (browser screenshots, reports).
#                 default .ci/artifacts (gitignored)

CI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CI_TOOLS_DIR="${CI_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/trellis-ci}"
CI_TOOLS_BIN="$CI_TOOLS_DIR/bin"
CI_VENV="${CI_VENV:-$CI_ROOT/.ci/.venv}"
CI_ARTIFACTS_DIR="${CI_ARTIFACTS_DIR:-$CI_ROOT/.ci/artifacts}"
# shellcheck disable=SC2034  # used by install.sh
CI_PY_PACKAGES=(grpcio grpcio-tools grpcio-status googleapis-common-protos protobuf)

# Local PostgreSQL used by test:postgres and the interop suite.
CI_PG_USER="${CI_PG_USER:-trellis}"
CI_PG_PASSWORD="${CI_PG_PASSWORD:-trellis}"  # matches the example in the postgres integration test
CI_PG_PORT=""

export PATH="$CI_TOOLS_BIN:$PATH"
export DEBIAN_FRONTEND=noninteractive
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

ci_section() {
  printf '\n==================== %s ====================\n' "$*"
}

ci_info() { printf '  %s\n' "$*"; }

ci_err() { printf 'ERROR: %s\n' "$*" >&2; }

# ci_quiet LOGFILE CMD...: run CMD with its output in LOGFILE; on failure show the tail.
ci_quiet() {
  local log=$1
  shift
  if "$@" >"$log" 2>&1; then
    return 0
  fi
  local rc=$?
  ci_err "command failed (exit $rc): $*"
  echo "---- last 40 lines of $log ----" >&2
  tail -n 40 "$log" >&2
  echo "----" >&2
  return "$rc"
}

# --- PostgreSQL -----------------------------------------------------------------------

ci_pg_psql() {
  # Runs psql as the postgres superuser over the local socket (peer auth).
  (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$CI_PG_PORT" -d postgres "$@")
}

# ci_pg_start: start the newest local cluster (creating one if none exists), wait until it
# accepts connections, and make sure the CI role exists with the CI password.
ci_pg_start() {
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    ci_err "PostgreSQL is not installed (pg_lsclusters missing); run .ci/install.sh"
    return 1
  fi
  local line ver cluster port status
  line="$(pg_lsclusters --no-header 2>/dev/null | sort -V | tail -n 1)"
  if [ -z "$line" ]; then
    # shellcheck disable=SC2012
    ver="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$ver" ]; then
      ci_err "no PostgreSQL server version found under /usr/lib/postgresql"
      return 1
    fi
    ci_info "creating cluster $ver/main"
    pg_createcluster "$ver" main >/dev/null || return 1
    line="$(pg_lsclusters --no-header | sort -V | tail -n 1)"
  fi
  read -r ver cluster port status _ <<<"$line"
  CI_PG_PORT="$port"
  if [[ "$status" != online* ]]; then
    ci_info "starting PostgreSQL $ver/$cluster on port $port"
    pg_ctlcluster "$ver" "$cluster" start || {
      ci_err "pg_ctlcluster $ver $cluster start failed"
      tail -n 20 "/var/log/postgresql/postgresql-$ver-$cluster.log" >&2 2>/dev/null
      return 1
    }
  else
    ci_info "PostgreSQL $ver/$cluster already running on port $port"
  fi
  local i
  for ((i = 0; i < 60; i++)); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
  done
  if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
    ci_err "PostgreSQL did not accept connections on 127.0.0.1:$port within 30 s"
    return 1
  fi
  ci_pg_psql -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$CI_PG_USER') THEN
        CREATE ROLE \"$CI_PG_USER\" LOGIN CREATEDB PASSWORD '$CI_PG_PASSWORD';
      ELSE
        ALTER ROLE \"$CI_PG_USER\" LOGIN CREATEDB PASSWORD '$CI_PG_PASSWORD';
      END IF;
    END \$\$;" || return 1
}

# ci_pg_fresh_db NAME: drop and recreate database NAME owned by the CI role; print its URL.
ci_pg_fresh_db() {
  local db=$1
  ci_pg_psql -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
    -c "CREATE DATABASE \"$db\" OWNER \"$CI_PG_USER\"" >&2 || return 1
  printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$CI_PG_USER" "$CI_PG_PASSWORD" "$CI_PG_PORT" "$db"
}

# --- etcd -----------------------------------------------------------------------------

# A throwaway etcd for test:etcd, on ports of its own (a system etcd keeps 2379/2380).
CI_ETCD_CLIENT_PORT=23790
CI_ETCD_PEER_PORT=23800
# "<pid> <data dir>" of the running one: lets a later run kill what an aborted run left.
CI_ETCD_PIDFILE="${CI_ETCD_PIDFILE:-${TMPDIR:-/tmp}/trellis-ci-etcd.pid}"

ci_etcd_healthy() {
  if command -v etcdctl >/dev/null 2>&1; then
    ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$CI_ETCD_CLIENT_PORT" --dial-timeout=2s \
      endpoint health >/dev/null 2>&1
  else
    curl -fsS --max-time 2 "http://127.0.0.1:$CI_ETCD_CLIENT_PORT/health" 2>/dev/null |
      grep -q '"health":"true"'
  fi
}

# ci_stop_etcd: kill the etcd named in the pid file (if it is still an etcd) and remove its
# data dir. Idempotent; runs from the EXIT trap that ci_start_etcd installs.
ci_stop_etcd() {
  local pid dir i
  [ -f "$CI_ETCD_PIDFILE" ] || return 0
  read -r pid dir <"$CI_ETCD_PIDFILE" || true
  # The pid may have been reused since an old run: only kill an etcd.
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = etcd ]; then
    kill "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
  fi
  case "$dir" in
    "${TMPDIR:-/tmp}"/tmp.*) rm -rf "$dir" ;;
  esac
  rm -f "$CI_ETCD_PIDFILE"
}

# ci_start_etcd: start a throwaway etcd (fresh data dir, 127.0.0.1:23790 for clients, :23800
# for peers), killing one an earlier run left behind; wait until it is healthy (30 s at most);
# export TEST_ETCD_ENDPOINT. The etcd is stopped when the calling shell exits.
ci_start_etcd() {
  if ! command -v etcd >/dev/null 2>&1; then
    ci_err "etcd is not installed (etcd-server); run .ci/install.sh"
    return 1
  fi
  ci_stop_etcd
  if (exec 3<>"/dev/tcp/127.0.0.1/$CI_ETCD_CLIENT_PORT") 2>/dev/null; then
    ci_err "port $CI_ETCD_CLIENT_PORT is taken by a process that is not CI's etcd; stop it and re-run"
    return 1
  fi
  local dir pid i current
  dir="$(mktemp -d)" || return 1
  # etcd 3.4 refuses to start on arm64 unless told that this is deliberate.
  ETCD_UNSUPPORTED_ARCH="$(uname -m | sed 's/^aarch64$/arm64/')" etcd --name trellis-ci \
    --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$CI_ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$CI_ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$CI_ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$CI_ETCD_PEER_PORT" \
    --initial-cluster "trellis-ci=http://127.0.0.1:$CI_ETCD_PEER_PORT" \
    >"$dir/etcd.log" 2>&1 &
  pid=$!
  printf '%s %s\n' "$pid" "$dir" >"$CI_ETCD_PIDFILE"
  # Chain onto the caller's EXIT trap instead of replacing it.
  eval "current=($(trap -p EXIT))"
  trap -- "${current[2]:+${current[2]}; }ci_stop_etcd" EXIT
  for ((i = 0; i < 60; i++)); do
    ci_etcd_healthy && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if ! ci_etcd_healthy; then
    ci_err "etcd did not become healthy on 127.0.0.1:$CI_ETCD_CLIENT_PORT within 30 s"
    tail -n 20 "$dir/etcd.log" >&2
    ci_stop_etcd
    return 1
  fi
  ci_info "etcd $(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p') on 127.0.0.1:$CI_ETCD_CLIENT_PORT (pid $pid)"
  export TEST_ETCD_ENDPOINT="127.0.0.1:$CI_ETCD_CLIENT_PORT"
}

# --- Consul ---------------------------------------------------------------------------

# Built from source by install.sh (the module's go.mod has replace directives, so
# `go install` refuses it) and cached by version outside the clone.
CI_CONSUL_VERSION=1.22.2
CI_CONSUL_BIN="$CI_TOOLS_DIR/consul-$CI_CONSUL_VERSION/consul"
# Every port of the throwaway agent, in one block clear of etcd (23790/23800), the services
# (50051/50052, 8080, 9090-9092) and the ephemeral range. The suites' own agents (restart,
# ACLs) use 28510-28529.
CI_CONSUL_HTTP_PORT=28500
CI_CONSUL_DNS_PORT=28501
CI_CONSUL_GRPC_PORT=28502
CI_CONSUL_GRPC_TLS_PORT=28503
CI_CONSUL_SERF_LAN_PORT=28504
CI_CONSUL_SERF_WAN_PORT=28505
CI_CONSUL_SERVER_PORT=28506
CI_CONSUL_PIDFILE="${CI_CONSUL_PIDFILE:-${TMPDIR:-/tmp}/trellis-ci-consul.pid}"

# ci_consul_version_ok: the cached binary exists and reports CI_CONSUL_VERSION.
ci_consul_version_ok() {
  [ -x "$CI_CONSUL_BIN" ] &&
    [ "$("$CI_CONSUL_BIN" version 2>/dev/null | sed -n 1p)" = "Consul v$CI_CONSUL_VERSION" ]
}

ci_consul_healthy() {
  # A leader is elected (dev mode: about a second after start).
  curl -fsS --max-time 2 "http://127.0.0.1:$CI_CONSUL_HTTP_PORT/v1/status/leader" 2>/dev/null |
    grep -q "127.0.0.1:$CI_CONSUL_SERVER_PORT"
}

# ci_stop_consul: kill the agent named in the pid file (if it is still a consul) and remove
# its folder. Idempotent; runs from the EXIT trap that ci_start_consul installs.
ci_stop_consul() {
  local pid dir i
  [ -f "$CI_CONSUL_PIDFILE" ] || return 0
  read -r pid dir <"$CI_CONSUL_PIDFILE" || true
  # The pid may have been reused since an old run: only kill a consul.
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = consul ]; then
    kill "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
  fi
  case "$dir" in
    "${TMPDIR:-/tmp}"/tmp.*) rm -rf "$dir" ;;
  esac
  rm -f "$CI_CONSUL_PIDFILE"
}

# ci_start_consul: start a throwaway `consul agent -dev` (state in memory, every port on
# 127.0.0.1 in the 28500-28506 block), killing one an earlier run left behind; wait until it
# has a leader (30 s at most); export TEST_CONSUL_HTTP_ADDR, TEST_CONSUL_DNS_ADDR and
# TEST_CONSUL_BIN. The agent is stopped when the calling shell exits.
ci_start_consul() {
  if ! ci_consul_version_ok; then
    ci_err "Consul $CI_CONSUL_VERSION is not built at $CI_CONSUL_BIN; run .ci/install.sh"
    return 1
  fi
  ci_stop_consul
  local port
  for port in "$CI_CONSUL_HTTP_PORT" "$CI_CONSUL_DNS_PORT" "$CI_CONSUL_GRPC_PORT" "$CI_CONSUL_GRPC_TLS_PORT" \
    "$CI_CONSUL_SERF_LAN_PORT" "$CI_CONSUL_SERF_WAN_PORT" "$CI_CONSUL_SERVER_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      ci_err "port $port is taken by a process that is not CI's consul; stop it and re-run"
      return 1
    fi
  done
  local dir pid i current
  dir="$(mktemp -d)" || return 1
  (cd "$dir" && exec "$CI_CONSUL_BIN" agent -dev -node trellis-ci -client 127.0.0.1 -bind 127.0.0.1 \
    -http-port "$CI_CONSUL_HTTP_PORT" -dns-port "$CI_CONSUL_DNS_PORT" \
    -grpc-port "$CI_CONSUL_GRPC_PORT" -grpc-tls-port "$CI_CONSUL_GRPC_TLS_PORT" \
    -serf-lan-port "$CI_CONSUL_SERF_LAN_PORT" -serf-wan-port "$CI_CONSUL_SERF_WAN_PORT" \
    -server-port "$CI_CONSUL_SERVER_PORT" >"$dir/consul.log" 2>&1) &
  pid=$!
  printf '%s %s\n' "$pid" "$dir" >"$CI_CONSUL_PIDFILE"
  # Chain onto the caller's EXIT trap instead of replacing it.
  eval "current=($(trap -p EXIT))"
  trap -- "${current[2]:+${current[2]}; }ci_stop_consul" EXIT
  for ((i = 0; i < 60; i++)); do
    ci_consul_healthy && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if ! ci_consul_healthy; then
    ci_err "consul did not elect a leader on 127.0.0.1:$CI_CONSUL_HTTP_PORT within 30 s"
    tail -n 20 "$dir/consul.log" >&2
    ci_stop_consul
    return 1
  fi
  ci_info "consul $CI_CONSUL_VERSION on http://127.0.0.1:$CI_CONSUL_HTTP_PORT, DNS 127.0.0.1:$CI_CONSUL_DNS_PORT (pid $pid)"
  export TEST_CONSUL_HTTP_ADDR="http://127.0.0.1:$CI_CONSUL_HTTP_PORT"
  export TEST_CONSUL_DNS_ADDR="127.0.0.1:$CI_CONSUL_DNS_PORT"
  export TEST_CONSUL_BIN="$CI_CONSUL_BIN"
}

# --- Observability stack (Prometheus, Jaeger, Elasticsearch, OpenTelemetry Collector) -------
# shellcheck source=.ci/lib-observability.sh
. "$CI_ROOT/.ci/lib-observability.sh"

# --- Deployment: images, Kubernetes control plane, kwok, Envoy (issue 14) ----------------
# shellcheck source=.ci/lib-deploy.sh
. "$CI_ROOT/.ci/lib-deploy.sh"
