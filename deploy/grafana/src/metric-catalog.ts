/**
 * Every metric family the dashboards and rules read, by who exposes it. This is
 * the contract with the kit (packages/kit, `/metrics` on each admin port): a
 * name here that the kit does not serve leaves a panel empty, which the live
 * query test catches; a name used in a query but missing here fails the spec.
 */

/** go-grpc-prometheus' families (server and client), as the kit's metrics interceptor names them. */
export const GRPC_METRICS = [
  "grpc_server_started_total",
  "grpc_server_handled_total",
  "grpc_server_msg_received_total",
  "grpc_server_msg_sent_total",
  "grpc_server_handling_seconds_bucket",
  "grpc_server_handling_seconds_count",
  "grpc_server_handling_seconds_sum",
  "grpc_client_started_total",
  "grpc_client_handled_total",
  "grpc_client_msg_received_total",
  "grpc_client_msg_sent_total",
  "grpc_client_handling_seconds_bucket",
  "grpc_client_handling_seconds_count",
  "grpc_client_handling_seconds_sum",
] as const;

/** The kit's own families. */
export const KIT_METRICS = [
  "trellis_breaker_state",
  "trellis_breaker_rejections_total",
  "trellis_retry_attempts_total",
  "trellis_retry_retries_total",
  "trellis_retry_budget_exhausted_total",
  "trellis_balancer_picks_total",
  "trellis_registry_instances",
  "trellis_db_query_duration_seconds_bucket",
  "trellis_db_query_duration_seconds_count",
  "trellis_db_query_duration_seconds_sum",
  "trellis_db_pool_in_use",
  "trellis_db_pool_size",
  "trellis_change_feed_lag",
  "trellis_otel_spans_total",
  // Not one of prom-client's default metrics: the kit samples performance.eventLoopUtilization().
  "nodejs_eventloop_utilization",
] as const;

/** prom-client 15's collectDefaultMetrics() families that are read. */
export const NODE_DEFAULT_METRICS = [
  "nodejs_eventloop_lag_p50_seconds",
  "nodejs_eventloop_lag_p99_seconds",
  "nodejs_eventloop_lag_max_seconds",
  "nodejs_gc_duration_seconds_bucket",
  "nodejs_gc_duration_seconds_count",
  "nodejs_gc_duration_seconds_sum",
  "nodejs_heap_size_used_bytes",
  "nodejs_heap_size_total_bytes",
  "nodejs_external_memory_bytes",
  "process_resident_memory_bytes",
  "process_cpu_user_seconds_total",
  "process_cpu_system_seconds_total",
  "process_open_fds",
  "process_max_fds",
] as const;

/** Series Prometheus itself writes for every target. */
export const PROMETHEUS_METRICS = ["up"] as const;

/** Every name above. */
export function knownMetricNames(): ReadonlySet<string> {
  return new Set<string>([...GRPC_METRICS, ...KIT_METRICS, ...NODE_DEFAULT_METRICS, ...PROMETHEUS_METRICS]);
}

const NOT_METRICS = new Set([
  "sum",
  "max",
  "min",
  "avg",
  "count",
  "rate",
  "increase",
  "histogram_quantile",
  "round",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "bool",
  "offset",
]);

/**
 * The metric names an expression reads: identifiers left once string
 * literals, label matchers, ranges and grouping clauses are removed, less
 * PromQL's functions and keywords.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = stripped.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return [...new Set(names.filter((n) => !NOT_METRICS.has(n)))];
}
