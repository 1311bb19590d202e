import { finish, trellisDashboard, type GeneratedDashboard } from "./dashboard.js";
import { row, timeseriesPanel } from "./panels.js";
import { instanceVariable, jobVariable } from "./variables.js";

/**
 * The Node.js processes (prom-client's default metrics plus the kit's event-loop
 * utilisation) and their storage: the database and the change feed.
 */

const SEL = 'job=~"$job", instance=~"$instance"';

/** The "Runtime and storage" dashboard. */
export function runtimeDashboard(): GeneratedDashboard {
  const builder = trellisDashboard(
    "trellis-runtime",
    "Trellis / Node.js runtime and storage",
    "Event loop, garbage collection, memory, CPU and file descriptors of every service process, and its database and change feed.",
  )
    .withVariable(jobVariable("process_resident_memory_bytes"))
    .withVariable(instanceVariable())

    .withRow(row("Event loop"))
    .withPanel(
      timeseriesPanel(
        "Event-loop delay",
        "prom-client's monitorEventLoopDelay percentiles over each scrape interval: how long a ready callback waited for the loop.",
        [
          { expr: `max by (job, instance) (nodejs_eventloop_lag_p50_seconds{${SEL}})`, legend: "{{instance}} p50" },
          { expr: `max by (job, instance) (nodejs_eventloop_lag_p99_seconds{${SEL}})`, legend: "{{instance}} p99" },
          { expr: `max by (job, instance) (nodejs_eventloop_lag_max_seconds{${SEL}})`, legend: "{{instance}} max" },
        ],
        { unit: "s", thresholds: [{ value: 0.1, color: "orange" }] },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Event-loop utilisation",
        "Share of time the event loop was busy (performance.eventLoopUtilization). Near 1 the process is at the limit of its one thread.",
        [{ expr: `max by (job, instance) (nodejs_eventloop_utilization{${SEL}})`, legend: "{{instance}}" }],
        { unit: "percentunit", max: 1, thresholds: [{ value: 0.9, color: "orange" }] },
      ),
    )

    .withRow(row("Memory and garbage collection"))
    .withPanel(
      timeseriesPanel(
        "Resident memory",
        "process_resident_memory_bytes: what the kernel has given the process.",
        [{ expr: `max by (job, instance) (process_resident_memory_bytes{${SEL}})`, legend: "{{instance}}" }],
        { unit: "bytes", thresholds: [{ value: 1024 ** 3, color: "orange" }] },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "V8 heap",
        "Heap used and allocated, and memory outside the heap (Buffers: message bytes).",
        [
          { expr: `max by (job, instance) (nodejs_heap_size_used_bytes{${SEL}})`, legend: "{{instance}} heap used" },
          { expr: `max by (job, instance) (nodejs_heap_size_total_bytes{${SEL}})`, legend: "{{instance}} heap total" },
          { expr: `max by (job, instance) (nodejs_external_memory_bytes{${SEL}})`, legend: "{{instance}} external" },
        ],
        { unit: "bytes" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Time in garbage collection",
        "Share of wall time spent in GC pauses, by kind (major, minor, incremental, weakcb).",
        [
          {
            expr: `sum by (job, instance, kind) (rate(nodejs_gc_duration_seconds_sum{${SEL}}[$__rate_interval]))`,
            legend: "{{instance}} {{kind}}",
          },
        ],
        { unit: "percentunit", stacked: true },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "GC pauses per second and p99 pause",
        "Collections per second by kind, and the 99th percentile pause.",
        [
          {
            expr: `sum by (job, instance, kind) (rate(nodejs_gc_duration_seconds_count{${SEL}}[$__rate_interval]))`,
            legend: "{{instance}} {{kind}} /s",
          },
          {
            expr: `histogram_quantile(0.99, sum by (job, instance, le) (rate(nodejs_gc_duration_seconds_bucket{${SEL}}[$__rate_interval])))`,
            legend: "{{instance}} p99 pause (s)",
          },
        ],
        { unit: "short" },
      ),
    )

    .withRow(row("CPU, file descriptors and trace export"))
    .withPanel(
      timeseriesPanel(
        "CPU",
        "CPU seconds per second (1 = one core), user and system.",
        [
          { expr: `sum by (job, instance) (rate(process_cpu_user_seconds_total{${SEL}}[$__rate_interval]))`, legend: "{{instance}} user" },
          {
            expr: `sum by (job, instance) (rate(process_cpu_system_seconds_total{${SEL}}[$__rate_interval]))`,
            legend: "{{instance}} system",
          },
        ],
        { unit: "short", stacked: true },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Open file descriptors",
        "Sockets and files open, against the process limit.",
        [
          { expr: `max by (job, instance) (process_open_fds{${SEL}})`, legend: "{{instance}} open" },
          { expr: `max by (job, instance) (process_max_fds{${SEL}})`, legend: "{{instance}} limit" },
        ],
        { unit: "short" },
      ),
    )

    .withPanel(
      timeseriesPanel(
        "Trace export",
        "Sampled spans per second by what became of them: exported, failed (the exporter gave up) or dropped (the export queue was full). Only with tracing on.",
        [
          {
            expr: `sum by (job, instance, outcome) (rate(trellis_otel_spans_total{${SEL}}[$__rate_interval]))`,
            legend: "{{instance}} {{outcome}}",
          },
        ],
        { unit: "short", width: 24 },
      ),
    )

    .withRow(row("Database and change feed"))
    .withPanel(
      timeseriesPanel(
        "Query latency p50 / p99 by operation",
        "trellis_db_query_duration_seconds by database system and operation.",
        [
          {
            expr: `histogram_quantile(0.5, sum by (job, db_system, operation, le) (rate(trellis_db_query_duration_seconds_bucket{${SEL}}[$__rate_interval])))`,
            legend: "p50 {{job}} {{db_system}} {{operation}}",
          },
          {
            expr: `histogram_quantile(0.99, sum by (job, db_system, operation, le) (rate(trellis_db_query_duration_seconds_bucket{${SEL}}[$__rate_interval])))`,
            legend: "p99 {{job}} {{db_system}} {{operation}}",
          },
        ],
        { unit: "s" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Queries per second by operation",
        "Statements per second.",
        [
          {
            expr: `sum by (job, db_system, operation) (rate(trellis_db_query_duration_seconds_count{${SEL}}[$__rate_interval]))`,
            legend: "{{job}} {{db_system}} {{operation}}",
          },
        ],
        { unit: "reqps" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Connection pool",
        "Connections in use against the pool's size.",
        [
          { expr: `sum by (job, instance) (trellis_db_pool_in_use{${SEL}})`, legend: "{{instance}} in use" },
          { expr: `sum by (job, instance) (trellis_db_pool_size{${SEL}})`, legend: "{{instance}} size" },
        ],
        { unit: "short", steps: true },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Change-feed lag",
        "Changes committed to the database that the instance's change feed has not delivered yet.",
        [{ expr: `max by (job, instance) (trellis_change_feed_lag{${SEL}})`, legend: "{{instance}}" }],
        { unit: "short", thresholds: [{ value: 1000, color: "orange" }] },
      ),
    );
  return finish("runtime.json", builder);
}
