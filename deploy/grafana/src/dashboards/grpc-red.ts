import { availabilityErrorRatio } from "../slo/sli.js";
import { finish, trellisDashboard, type GeneratedDashboard } from "./dashboard.js";
import { heatmapPanel, row, timeseriesPanel, type Query } from "./panels.js";
import { grpcMethodVariable, grpcServiceVariable, jobVariable } from "./variables.js";

/**
 * RED (rate, errors, duration) of every Trellis service from go-grpc-prometheus'
 * metric families: per service (job), per method, the latency heatmap, and
 * what each service sees of the services it calls (the client twins).
 */

/** The server-side selector of the dashboard's variables. */
const SERVER = 'job=~"$job", grpc_service=~"$service", grpc_method=~"$method"';

/** Client side: `job` is the caller; service and method are the callee's. */
const CLIENT = 'job=~"$job"';

const QUANTILES = [0.5, 0.9, 0.99] as const;

/** `histogram_quantile` of a `_bucket` rate summed by `by` and `le`. */
function quantile(q: number, metric: string, selector: string, by: string): string {
  return `histogram_quantile(${q}, sum by (${by}, le) (rate(${metric}_bucket{${selector}}[$__rate_interval])))`;
}

function latencyQueries(metric: string, selector: string, by: string, legend: string): Query[] {
  return QUANTILES.map((q) => ({ expr: quantile(q, metric, selector, by), legend: `p${q * 100} ${legend}` }));
}

/** The "gRPC services (RED)" dashboard. */
export function grpcRedDashboard(): GeneratedDashboard {
  const builder = trellisDashboard(
    "trellis-grpc-red",
    "Trellis / gRPC services (RED)",
    "Rate, errors and duration of every Trellis service and method, from the go-grpc-prometheus metrics each service serves on its admin port at /metrics.",
  )
    .withVariable(jobVariable())
    .withVariable(grpcServiceVariable())
    .withVariable(grpcMethodVariable())

    .withRow(row("Per service"))
    .withPanel(
      timeseriesPanel(
        "Requests per second",
        "Calls completed per second, every code and call kind.",
        [{ expr: `sum by (job) (rate(grpc_server_handled_total{${SERVER}}[$__rate_interval]))`, legend: "{{job}}" }],
        { unit: "reqps" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Errors per second by code",
        "Calls that ended with a code other than OK. Client errors (InvalidArgument, NotFound, …) are answers, not faults: the next panel shows what counts against the availability SLO.",
        [
          {
            expr: `sum by (job, grpc_code) (rate(grpc_server_handled_total{${SERVER}, grpc_code!="OK"}[$__rate_interval]))`,
            legend: "{{job}} {{grpc_code}}",
          },
        ],
        { unit: "reqps", stacked: true },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Server-fault ratio (availability SLI)",
        "Fraction of calls that count against the 99.99 % availability SLO: Unknown, Internal, DataLoss, Unimplemented for every call; Unavailable and DeadlineExceeded for unary and client-stream calls. The dashed line is the error budget (0.01 %).",
        [{ expr: availabilityErrorRatio("$__rate_interval", 'job=~"$job"'), legend: "{{job}}" }],
        { unit: "percentunit", thresholds: [{ value: 0.0001, color: "red" }] },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Unary latency p50 / p90 / p99",
        "From grpc_server_handling_seconds (Prometheus' default buckets, as go-grpc-prometheus): quantiles are interpolated inside a bucket. Streams are left out: their handling time is their lifetime.",
        latencyQueries("grpc_server_handling_seconds", `${SERVER}, grpc_type="unary"`, "job", "{{job}}"),
        { unit: "s" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Calls in flight",
        "Started minus handled: unary calls being served plus open streams (Watch, Subscribe, Chat).",
        [
          {
            expr: `sum by (job, grpc_type) (grpc_server_started_total{${SERVER}}) - sum by (job, grpc_type) (grpc_server_handled_total{${SERVER}})`,
            legend: "{{job}} {{grpc_type}}",
          },
        ],
        { unit: "short", steps: true },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Stream messages per second",
        "Messages received and sent by the server (streams and unary alike: a unary call is one of each).",
        [
          { expr: `sum by (job) (rate(grpc_server_msg_received_total{${SERVER}}[$__rate_interval]))`, legend: "{{job}} received" },
          { expr: `sum by (job) (rate(grpc_server_msg_sent_total{${SERVER}}[$__rate_interval]))`, legend: "{{job}} sent" },
        ],
        { unit: "short" },
      ),
    )

    .withRow(row("Per method"))
    .withPanel(
      timeseriesPanel(
        "Requests per second by method",
        "Calls completed per second.",
        [
          {
            expr: `sum by (job, grpc_service, grpc_method) (rate(grpc_server_handled_total{${SERVER}}[$__rate_interval]))`,
            legend: "{{job}} {{grpc_service}}/{{grpc_method}}",
          },
        ],
        { unit: "reqps" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Errors per second by method and code",
        "Calls that ended with a code other than OK.",
        [
          {
            expr: `sum by (job, grpc_service, grpc_method, grpc_code) (rate(grpc_server_handled_total{${SERVER}, grpc_code!="OK"}[$__rate_interval]))`,
            legend: "{{grpc_method}} {{grpc_code}}",
          },
        ],
        { unit: "reqps", stacked: true },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Error ratio by method",
        "Fraction of each method's calls that did not end OK (any code).",
        [
          {
            expr:
              `sum by (job, grpc_service, grpc_method) (rate(grpc_server_handled_total{${SERVER}, grpc_code!="OK"}[$__rate_interval]))\n/\n` +
              `sum by (job, grpc_service, grpc_method) (rate(grpc_server_handled_total{${SERVER}}[$__rate_interval]))`,
            legend: "{{job}} {{grpc_method}}",
          },
        ],
        { unit: "percentunit" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "p99 latency by method",
        "Unary methods' 99th percentile; streams' handling time is their lifetime, shown in the next panel.",
        [
          {
            expr: quantile(0.99, "grpc_server_handling_seconds", `${SERVER}, grpc_type="unary"`, "job, grpc_service, grpc_method"),
            legend: "{{job}} {{grpc_method}}",
          },
        ],
        { unit: "s" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "p50 latency by method",
        "Median handling time of every method, streams included (for a stream: how long it stayed open).",
        [
          {
            expr: quantile(0.5, "grpc_server_handling_seconds", SERVER, "job, grpc_type, grpc_service, grpc_method"),
            legend: "{{job}} {{grpc_method}} ({{grpc_type}})",
          },
        ],
        { unit: "s" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Stream messages per second by method",
        "Messages received and sent per method: imports (client streams), watches and chat sessions.",
        [
          {
            expr: `sum by (job, grpc_method) (rate(grpc_server_msg_received_total{${SERVER}, grpc_type!="unary"}[$__rate_interval]))`,
            legend: "{{job}} {{grpc_method}} received",
          },
          {
            expr: `sum by (job, grpc_method) (rate(grpc_server_msg_sent_total{${SERVER}, grpc_type!="unary"}[$__rate_interval]))`,
            legend: "{{job}} {{grpc_method}} sent",
          },
        ],
        { unit: "short" },
      ),
    )

    .withRow(row("Latency heatmap"))
    .withPanel(
      heatmapPanel(
        "Unary handling time",
        "Calls per grpc_server_handling_seconds bucket and interval, for the selected services and methods. The dots are exemplars: a slow call's trace id, a click away from its trace.",
        `sum by (le) (increase(grpc_server_handling_seconds_bucket{${SERVER}, grpc_type="unary"}[$__rate_interval]))`,
      ),
    )

    .withRow(row("Outgoing calls (client side)"))
    .withPanel(
      timeseriesPanel(
        "Outgoing requests per second",
        "Calls this job made to other services (grpc_client_handled_total), by callee.",
        [
          {
            expr: `sum by (job, grpc_service) (rate(grpc_client_handled_total{${CLIENT}}[$__rate_interval]))`,
            legend: "{{job}} → {{grpc_service}}",
          },
        ],
        { unit: "reqps" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Outgoing errors per second by code",
        "What the caller saw: includes the breaker's and the balancer's own UNAVAILABLE, and deadlines the caller set.",
        [
          {
            expr: `sum by (job, grpc_service, grpc_code) (rate(grpc_client_handled_total{${CLIENT}, grpc_code!="OK"}[$__rate_interval]))`,
            legend: "{{job}} → {{grpc_service}} {{grpc_code}}",
          },
        ],
        { unit: "reqps", stacked: true },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Outgoing unary latency p50 / p90 / p99",
        "From grpc_client_handling_seconds: the callee's time plus the network, the balancer and retries.",
        latencyQueries("grpc_client_handling_seconds", `${CLIENT}, grpc_type="unary"`, "job, grpc_service", "{{job}} → {{grpc_service}}"),
        { unit: "s" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Outgoing calls started vs handled",
        "Started per second against completed per second; a gap that grows is calls or streams piling up.",
        [
          {
            expr: `sum by (job, grpc_service) (rate(grpc_client_started_total{${CLIENT}}[$__rate_interval]))`,
            legend: "{{job}} → {{grpc_service}} started",
          },
          {
            expr: `sum by (job, grpc_service) (rate(grpc_client_handled_total{${CLIENT}}[$__rate_interval]))`,
            legend: "{{job}} → {{grpc_service}} handled",
          },
        ],
        { unit: "reqps" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Outgoing stream messages per second",
        "Messages the client sent and received.",
        [
          {
            expr: `sum by (job, grpc_service) (rate(grpc_client_msg_sent_total{${CLIENT}}[$__rate_interval]))`,
            legend: "{{job}} → {{grpc_service}} sent",
          },
          {
            expr: `sum by (job, grpc_service) (rate(grpc_client_msg_received_total{${CLIENT}}[$__rate_interval]))`,
            legend: "{{job}} → {{grpc_service}} received",
          },
        ],
        { unit: "short", width: 24 },
      ),
    );
  return finish("grpc-red.json", builder);
}
