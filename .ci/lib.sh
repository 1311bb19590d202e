# shellcheck shell=bash
# Shared helpers for .ci/run, .ci/install.sh and .ci/interop.sh. Source it; don't run it.
#
# Paths (all overridable from the environment):
#   CI_TOOLS_DIR  Go CLI tools (grpcurl, grpc-health-probe); outside the clone so that a
#                 re-run on the same machine skips the build.   default ~/.cache/trellis-ci
#   CI_VENV       Python venv for the interop client.           default .ci/.venv (gitignored)

CI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CI_TOOLS_DIR="${CI_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/trellis-ci}"
CI_TOOLS_BIN="$CI_TOOLS_DIR/bin"
CI_VENV="${CI_VENV:-$CI_ROOT/.ci/.venv}"
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
