# shellcheck shell=bash
# The observability stack for CI steps and tests: Prometheus, Jaeger v2, Elasticsearch and
# Trellis' OpenTelemetry Collector, each a real process on 127.0.0.1 with a throwaway folder.
# Sourced by lib.sh (needs CI_ROOT, CI_TOOLS_DIR, ci_info, ci_err); installed by
# .ci/install-observability.sh.
#
#   ci_start_observability   all four (Elasticsearch and Jaeger first, the collector last);
#   ci_stop_observability    all four; both idempotent
#   ci_start_prometheus / ci_start_jaeger / ci_start_elasticsearch / ci_start_collector, and
#   the ci_stop_* twins, one at a time (the collector needs Jaeger and Elasticsearch up).
#
# Each start kills what an aborted run left (pid files in ${TMPDIR:-/tmp}), refuses a port
# that someone else holds, waits for readiness with a bounded poll (the log's tail on failure),
# chains its stop onto the caller's EXIT trap, and exports (for tests):
#   TEST_PROMETHEUS_URL            http://127.0.0.1:29420 (HTTP API; --web.enable-lifecycle)
#   TEST_PROMETHEUS_TARGETS_DIR    scrape targets: write <name>.json here in file_sd format,
#                                  [{"targets":["127.0.0.1:<port>"],"labels":{"job":"user"}}]
#                                  (scraped every 1 s, /metrics; a "__metrics_path__" label
#                                  changes the path); picked up within ~1 s, delete to drop
#   TEST_PROMETHEUS_RULES_DIR      rule files (*.yml) evaluated every 1 s after
#                                  POST $TEST_PROMETHEUS_URL/-/reload
#   TEST_PROMTOOL                  promtool (check rules, test rules)
#   TEST_JAEGER_QUERY_URL          http://127.0.0.1:29403 (GET /api/v3/traces/<trace id>)
#   TEST_JAEGER_OTLP_ENDPOINT      http://127.0.0.1:29401 (OTLP/gRPC straight into Jaeger)
#   TEST_ELASTICSEARCH_URL         http://127.0.0.1:29430 (index template trellis-logs-* applied)
#   TEST_COLLECTOR_OTLP_ENDPOINT   http://127.0.0.1:29411 (OTLP/gRPC: OTEL_EXPORTER_OTLP_ENDPOINT)
#   TEST_COLLECTOR_OTLP_HTTP_URL   http://127.0.0.1:29412 (OTLP/HTTP: /v1/traces)
#   TEST_COLLECTOR_LOG_DIR         every *.log here is tailed (from its beginning) and shipped
#                                  to Elasticsearch, index trellis-logs-<date>: point a service's
#                                  stdout at $TEST_COLLECTOR_LOG_DIR/<name>.log
#   TEST_COLLECTOR_LOG_FILE        $TEST_COLLECTOR_LOG_DIR/test.log, created empty
#   TEST_COLLECTOR_CONTAINER_LOG_DIR  Kubernetes layout <ns>_<pod>_<uid>/<container>/<n>.log,
#                                  CRI or Docker json-file lines (the container receiver)
#   TEST_COLLECTOR_EXPORT_FILE     everything the collector exported, as OTLP JSON lines
#
# Ports: one block, 29401-29431, clear of etcd (23790/23800), consul (28500-28529), the
# services (50051/50052, 8080, 9090-9092) and the ephemeral range (32768+).

CI_JAEGER_VERSION=1.76.0
CI_JAEGER_BIN="$CI_TOOLS_DIR/jaeger-$CI_JAEGER_VERSION/jaeger"
# The Collector Builder and the collector's components are one release: the elasticsearch
# exporter is served by the Go module proxy at v0.156.0/v0.157.0 but not at v0.158-v0.165.
CI_OCB_VERSION=0.156.0
CI_OCB_MANIFEST="$CI_ROOT/deploy/otel-collector/builder-config.yaml"
CI_ES_VERSION=8.19.7
# Elasticsearch refuses to run as root: as root it runs as this system user, from a folder
# that user can read (CI_TOOLS_DIR is under /root, mode 700).
if [ "$(id -u)" -eq 0 ]; then
  CI_ES_USER="${CI_ES_USER:-trellis-search}"
  CI_ES_HOME="${CI_ES_DIR:-/opt/trellis-ci}/elasticsearch-$CI_ES_VERSION"
else
  CI_ES_USER="$(id -un)"
  CI_ES_HOME="${CI_ES_DIR:-$CI_TOOLS_DIR}/elasticsearch-$CI_ES_VERSION"
fi

CI_JAEGER_OTLP_GRPC_PORT=29401
CI_JAEGER_OTLP_HTTP_PORT=29402
CI_JAEGER_QUERY_HTTP_PORT=29403
CI_JAEGER_QUERY_GRPC_PORT=29404
CI_JAEGER_HEALTH_PORT=29405
CI_JAEGER_METRICS_PORT=29406
CI_COLLECTOR_OTLP_GRPC_PORT=29411
CI_COLLECTOR_OTLP_HTTP_PORT=29412
CI_COLLECTOR_HEALTH_PORT=29413
CI_COLLECTOR_METRICS_PORT=29414
CI_PROMETHEUS_PORT=29420
CI_ES_HTTP_PORT=29430
CI_ES_TRANSPORT_PORT=29431

# ci_collector_bin: the cached collector for the manifest as it is now (keyed by its hash and
# the builder's version: editing the manifest means a rebuild by install.sh).
ci_collector_key() {
  { printf 'ocb %s\n' "$CI_OCB_VERSION"; cat "$CI_OCB_MANIFEST"; } | sha256sum | cut -c1-16
}
ci_collector_bin() {
  printf '%s/otelcol-trellis-%s/otelcol-trellis\n' "$CI_TOOLS_DIR" "$(ci_collector_key)"
}

ci_jaeger_version_ok() {
  [ -x "$CI_JAEGER_BIN" ] && "$CI_JAEGER_BIN" version 2>/dev/null | grep -q "\"gitVersion\":\"v$CI_JAEGER_VERSION\""
}

ci_es_java_home() {
  # Elasticsearch 8.19 runs on Java 17 or newer: the first such JVM under /usr/lib/jvm.
  local j v
  for j in /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/java-21-openjdk-* /usr/lib/jvm/*; do
    [ -x "$j/bin/java" ] || continue
    v="$("$j/bin/java" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')"
    if [ -n "$v" ] && [ "$v" -ge 17 ]; then
      printf '%s\n' "$j"
      return 0
    fi
  done
  return 1
}

ci_es_installed() {
  [ -x "$CI_ES_HOME/bin/elasticsearch" ] && [ -f "$CI_ES_HOME/lib/elasticsearch-$CI_ES_VERSION.jar" ]
}

# --- shared plumbing --------------------------------------------------------------------

_ci_obs_pidfile() { printf '%s/trellis-ci-%s.pid\n' "${TMPDIR:-/tmp}" "$1"; }

_ci_obs_port_free() {
  local port
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      ci_err "port $port is taken by a process that is not CI's; stop it and re-run"
      return 1
    fi
  done
}

# _ci_obs_stop NAME COMM: kill the process group named in NAME's pid file and remove its
# throwaway folder.
_ci_obs_stop() {
  local name=$1 comm=$2 pidfile pid dir i
  pidfile="$(_ci_obs_pidfile "$name")"
  [ -f "$pidfile" ] || return 0
  read -r pid dir <"$pidfile" || true
  # Ours only if it is still a COMM started for that folder (its working directory or an
  # argument): pids get reused, and "java" is a common name.
  if [ -n "$pid" ] && [ -n "$dir" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] &&
    { [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$dir" ] ||
      tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir"; }; then
    # Started under setsid: the pid leads its own process group (Elasticsearch is two JVMs).
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 150; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
  fi
  case "$dir" in
    "${TMPDIR:-/tmp}"/tmp.*) rm -rf "$dir" ;;
  esac
  rm -f "$pidfile"
}

# _ci_obs_trap STOPFN: chain STOPFN onto the caller's EXIT trap (once).
_ci_obs_trap() {
  local current
  eval "current=($(trap -p EXIT))"
  case "${current[2]:-}" in *"$1"*) return 0 ;; esac
  trap -- "${current[2]:+${current[2]}; }$1" EXIT
}

# _ci_obs_wait NAME PID LOG SECONDS CHECK...: poll CHECK every 0.5 s until it succeeds, the
# process dies, or SECONDS pass; on failure print the log's tail.
_ci_obs_wait() {
  local name=$1 pid=$2 log=$3 secs=$4 i
  shift 4
  for ((i = 0; i < secs * 2; i++)); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  "$@" && return 0
  if kill -0 "$pid" 2>/dev/null; then
    ci_err "$name did not become ready within $secs s"
  else
    ci_err "$name exited during start-up"
  fi
  echo "---- last 30 lines of $log ----" >&2
  tail -n 30 "$log" >&2
  echo "----" >&2
  return 1
}

_ci_http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# --- Prometheus -------------------------------------------------------------------------

ci_stop_prometheus() { _ci_obs_stop prometheus prometheus; }

_ci_prometheus_launch() {
  if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    ci_err "prometheus/promtool are not installed (Debian prometheus); run .ci/install.sh"
    return 1
  fi
  ci_stop_prometheus
  _ci_obs_port_free "$CI_PROMETHEUS_PORT" || return 1
  local dir
  dir="$(mktemp -d)" || return 1
  mkdir -p "$dir/targets" "$dir/rules" "$dir/data"
  cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $dir/rules/*.yml
scrape_configs:
  - job_name: test
    file_sd_configs:
      - files: ['$dir/targets/*.json']
        refresh_interval: 1s
EOF
  setsid prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$CI_PROMETHEUS_PORT" --web.enable-lifecycle \
    --enable-feature=exemplar-storage >"$dir/prometheus.log" 2>&1 </dev/null &
  printf '%s %s\n' "$!" "$dir" >"$(_ci_obs_pidfile prometheus)"
  _ci_obs_trap ci_stop_prometheus
}

_ci_prometheus_ready() {
  local pid dir
  read -r pid dir <"$(_ci_obs_pidfile prometheus)"
  _ci_obs_wait prometheus "$pid" "$dir/prometheus.log" 30 \
    _ci_http_ok "http://127.0.0.1:$CI_PROMETHEUS_PORT/-/ready" || { ci_stop_prometheus; return 1; }
  export TEST_PROMETHEUS_URL="http://127.0.0.1:$CI_PROMETHEUS_PORT"
  export TEST_PROMETHEUS_TARGETS_DIR="$dir/targets"
  export TEST_PROMETHEUS_RULES_DIR="$dir/rules"
  TEST_PROMTOOL="$(command -v promtool)"
  export TEST_PROMTOOL
  ci_info "prometheus $(prometheus --version 2>&1 | sed -n '1s/^prometheus, version \([^ ]*\).*/\1/p') on $TEST_PROMETHEUS_URL (pid $pid); targets: $TEST_PROMETHEUS_TARGETS_DIR/*.json"
}

ci_start_prometheus() { _ci_prometheus_launch && _ci_prometheus_ready; }

# --- Jaeger -----------------------------------------------------------------------------

ci_stop_jaeger() { _ci_obs_stop jaeger jaeger; }

_ci_jaeger_launch() {
  if ! ci_jaeger_version_ok; then
    ci_err "Jaeger v$CI_JAEGER_VERSION is not built at $CI_JAEGER_BIN; run .ci/install.sh"
    return 1
  fi
  ci_stop_jaeger
  _ci_obs_port_free "$CI_JAEGER_OTLP_GRPC_PORT" "$CI_JAEGER_OTLP_HTTP_PORT" "$CI_JAEGER_QUERY_HTTP_PORT" \
    "$CI_JAEGER_QUERY_GRPC_PORT" "$CI_JAEGER_HEALTH_PORT" "$CI_JAEGER_METRICS_PORT" || return 1
  local dir
  dir="$(mktemp -d)" || return 1
  # The committed deploy config, with CI's ports.
  (cd "$dir" && exec env \
    JAEGER_OTLP_GRPC_ENDPOINT="127.0.0.1:$CI_JAEGER_OTLP_GRPC_PORT" \
    JAEGER_OTLP_HTTP_ENDPOINT="127.0.0.1:$CI_JAEGER_OTLP_HTTP_PORT" \
    JAEGER_QUERY_HTTP_ENDPOINT="127.0.0.1:$CI_JAEGER_QUERY_HTTP_PORT" \
    JAEGER_QUERY_GRPC_ENDPOINT="127.0.0.1:$CI_JAEGER_QUERY_GRPC_PORT" \
    JAEGER_HEALTH_ENDPOINT="127.0.0.1:$CI_JAEGER_HEALTH_PORT" \
    JAEGER_METRICS_PORT="$CI_JAEGER_METRICS_PORT" \
    setsid "$CI_JAEGER_BIN" --config "$CI_ROOT/deploy/jaeger/config.yaml") >"$dir/jaeger.log" 2>&1 </dev/null &
  printf '%s %s\n' "$!" "$dir" >"$(_ci_obs_pidfile jaeger)"
  _ci_obs_trap ci_stop_jaeger
}

_ci_jaeger_healthy() {
  _ci_http_ok "http://127.0.0.1:$CI_JAEGER_HEALTH_PORT/status" &&
    _ci_http_ok "http://127.0.0.1:$CI_JAEGER_QUERY_HTTP_PORT/api/v3/services"
}

_ci_jaeger_ready() {
  local pid dir
  read -r pid dir <"$(_ci_obs_pidfile jaeger)"
  _ci_obs_wait jaeger "$pid" "$dir/jaeger.log" 30 _ci_jaeger_healthy || { ci_stop_jaeger; return 1; }
  export TEST_JAEGER_QUERY_URL="http://127.0.0.1:$CI_JAEGER_QUERY_HTTP_PORT"
  export TEST_JAEGER_OTLP_ENDPOINT="http://127.0.0.1:$CI_JAEGER_OTLP_GRPC_PORT"
  ci_info "jaeger v$CI_JAEGER_VERSION (memory storage): query $TEST_JAEGER_QUERY_URL, OTLP/gRPC $TEST_JAEGER_OTLP_ENDPOINT (pid $pid)"
}

ci_start_jaeger() { _ci_jaeger_launch && _ci_jaeger_ready; }

# --- Elasticsearch ----------------------------------------------------------------------

ci_stop_elasticsearch() { _ci_obs_stop elasticsearch java; }

_ci_es_launch() {
  local java_home dir
  if ! ci_es_installed; then
    ci_err "Elasticsearch $CI_ES_VERSION is not installed at $CI_ES_HOME; run .ci/install.sh"
    return 1
  fi
  java_home="$(ci_es_java_home)" || {
    ci_err "no Java 17+ under /usr/lib/jvm for Elasticsearch; run .ci/install.sh"
    return 1
  }
  ci_stop_elasticsearch
  _ci_obs_port_free "$CI_ES_HTTP_PORT" "$CI_ES_TRANSPORT_PORT" || return 1
  dir="$(mktemp -d)" || return 1
  # A config folder of its own (the keystore is written there), data and logs beside it.
  cp -r "$CI_ES_HOME/config" "$dir/config"
  mkdir -p "$dir/data" "$dir/logs" "$dir/tmp"
  cat >"$dir/config/elasticsearch.yml" <<EOF
cluster.name: trellis-ci
node.name: trellis-ci
discovery.type: single-node
network.host: 127.0.0.1
http.port: $CI_ES_HTTP_PORT
transport.port: $CI_ES_TRANSPORT_PORT
path.data: $dir/data
path.logs: $dir/logs
xpack.security.enabled: false
action.destructive_requires_name: false
EOF
  sed -i "s|ErrorFile=|ErrorFile=$dir/logs/|; s|file=gc.log|file=$dir/logs/gc.log|" "$dir/config/jvm.options"
  local as_user=()
  if [ "$(id -u)" -eq 0 ]; then
    chown -R "$CI_ES_USER:" "$dir"
    chmod 755 "$dir"
    as_user=(setpriv "--reuid=$CI_ES_USER" "--regid=$CI_ES_USER" --init-groups --)
  fi
  (cd "$CI_ES_HOME" && exec setsid "${as_user[@]}" env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$dir/config" \
    ES_TMPDIR="$dir/tmp" ES_JAVA_OPTS="-Xms512m -Xmx512m" "$CI_ES_HOME/bin/elasticsearch") \
    >"$dir/elasticsearch.stdout.log" 2>&1 </dev/null &
  printf '%s %s\n' "$!" "$dir" >"$(_ci_obs_pidfile elasticsearch)"
  _ci_obs_trap ci_stop_elasticsearch
}

_ci_es_healthy() {
  _ci_http_ok "http://127.0.0.1:$CI_ES_HTTP_PORT/_cluster/health?wait_for_status=yellow&timeout=1s"
}

_ci_es_ready() {
  local pid dir
  read -r pid dir <"$(_ci_obs_pidfile elasticsearch)"
  # ~20 s on a quiet machine, ~50 s beside two Go builds.
  _ci_obs_wait elasticsearch "$pid" "$dir/elasticsearch.stdout.log" 150 _ci_es_healthy ||
    { ci_stop_elasticsearch; return 1; }
  export TEST_ELASTICSEARCH_URL="http://127.0.0.1:$CI_ES_HTTP_PORT"
  if ! curl -fsS --max-time 10 -X PUT -H 'Content-Type: application/json' \
    --data-binary "@$CI_ROOT/deploy/elasticsearch/trellis-logs.index-template.json" \
    "$TEST_ELASTICSEARCH_URL/_index_template/trellis-logs" >"$dir/template.out" 2>&1; then
    ci_err "Elasticsearch refused deploy/elasticsearch/trellis-logs.index-template.json:"
    cat "$dir/template.out" >&2
    ci_stop_elasticsearch
    return 1
  fi
  ci_info "elasticsearch $CI_ES_VERSION on $TEST_ELASTICSEARCH_URL as $CI_ES_USER (pid $pid); index template trellis-logs-* applied"
}

ci_start_elasticsearch() { _ci_es_launch && _ci_es_ready; }

# --- OpenTelemetry Collector ------------------------------------------------------------

ci_stop_collector() { _ci_obs_stop collector otelcol-trellis; }

ci_start_collector() {
  local bin dir pid
  bin="$(ci_collector_bin)"
  if [ ! -x "$bin" ]; then
    ci_err "the collector for $CI_OCB_MANIFEST is not built at $bin; run .ci/install.sh"
    return 1
  fi
  if [ -z "${TEST_JAEGER_OTLP_ENDPOINT:-}" ] || [ -z "${TEST_ELASTICSEARCH_URL:-}" ]; then
    ci_err "start Jaeger and Elasticsearch before the collector (ci_start_observability does)"
    return 1
  fi
  ci_stop_collector
  _ci_obs_port_free "$CI_COLLECTOR_OTLP_GRPC_PORT" "$CI_COLLECTOR_OTLP_HTTP_PORT" \
    "$CI_COLLECTOR_HEALTH_PORT" "$CI_COLLECTOR_METRICS_PORT" || return 1
  dir="$(mktemp -d)" || return 1
  mkdir -p "$dir/logs" "$dir/pods"
  : >"$dir/logs/test.log"
  # The committed deploy config, plus a file exporter in both pipelines (what was exported,
  # for a test to read and for the log tail of a failure).
  cat >"$dir/ci-overlay.yaml" <<EOF
exporters:
  file/ci:
    path: $dir/exported.jsonl
    flush_interval: 100ms
service:
  pipelines:
    traces:
      exporters: [otlp_grpc/jaeger, debug, file/ci]
    logs:
      exporters: [elasticsearch, debug, file/ci]
EOF
  (cd "$dir" && exec env \
    OTELCOL_OTLP_GRPC_ENDPOINT="127.0.0.1:$CI_COLLECTOR_OTLP_GRPC_PORT" \
    OTELCOL_OTLP_HTTP_ENDPOINT="127.0.0.1:$CI_COLLECTOR_OTLP_HTTP_PORT" \
    OTELCOL_HEALTH_ENDPOINT="127.0.0.1:$CI_COLLECTOR_HEALTH_PORT" \
    OTELCOL_METRICS_PORT="$CI_COLLECTOR_METRICS_PORT" \
    JAEGER_OTLP_ENDPOINT="127.0.0.1:${TEST_JAEGER_OTLP_ENDPOINT##*:}" \
    ELASTICSEARCH_URL="$TEST_ELASTICSEARCH_URL" \
    TRELLIS_LOG_FILES="$dir/logs/*.log" \
    TRELLIS_CONTAINER_LOG_FILES="$dir/pods/*/*/*.log" \
    TRELLIS_LOGS_START_AT=beginning \
    setsid "$bin" --config "$CI_ROOT/deploy/otel-collector/config.yaml" --config "$dir/ci-overlay.yaml") \
    >"$dir/collector.log" 2>&1 </dev/null &
  pid=$!
  printf '%s %s\n' "$pid" "$dir" >"$(_ci_obs_pidfile collector)"
  _ci_obs_trap ci_stop_collector
  _ci_obs_wait collector "$pid" "$dir/collector.log" 30 \
    _ci_http_ok "http://127.0.0.1:$CI_COLLECTOR_HEALTH_PORT/" || { ci_stop_collector; return 1; }
  export TEST_COLLECTOR_OTLP_ENDPOINT="http://127.0.0.1:$CI_COLLECTOR_OTLP_GRPC_PORT"
  export TEST_COLLECTOR_OTLP_HTTP_URL="http://127.0.0.1:$CI_COLLECTOR_OTLP_HTTP_PORT"
  export TEST_COLLECTOR_LOG_DIR="$dir/logs"
  export TEST_COLLECTOR_LOG_FILE="$dir/logs/test.log"
  export TEST_COLLECTOR_CONTAINER_LOG_DIR="$dir/pods"
  export TEST_COLLECTOR_EXPORT_FILE="$dir/exported.jsonl"
  export TEST_COLLECTOR_LOG="$dir/collector.log"
  ci_info "otelcol-trellis ($("$bin" --version 2>/dev/null | sed 's/.* version //')) OTLP gRPC $TEST_COLLECTOR_OTLP_ENDPOINT, HTTP $TEST_COLLECTOR_OTLP_HTTP_URL (pid $pid); tails $TEST_COLLECTOR_LOG_DIR/*.log"
}

# --- all of them ------------------------------------------------------------------------

ci_stop_observability() {
  ci_stop_collector
  ci_stop_jaeger
  ci_stop_prometheus
  ci_stop_elasticsearch
}

# ci_start_observability: Elasticsearch (the slow one) starts first and the others meanwhile;
# the collector starts once Jaeger and Elasticsearch answer. On any failure all are stopped.
ci_start_observability() {
  _ci_es_launch || return 1
  if _ci_jaeger_launch && _ci_prometheus_launch && _ci_jaeger_ready && _ci_prometheus_ready &&
    _ci_es_ready && ci_start_collector; then
    return 0
  fi
  ci_stop_observability
  return 1
}
