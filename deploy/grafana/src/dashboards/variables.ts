import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import { PROMETHEUS } from "./panels.js";

/**
 * The dashboards' template variables. Every query filters with `=~"$name"`,
 * and "All" is the regex `.*`, so a query reads the same with one value, many
 * or all. {@link VARIABLE_DEFAULTS} is what the query list substitutes to make
 * each dashboard query plain PromQL.
 */

/** What "All" stands for in a selector. */
export const ALL = ".*";

/** The Prometheus datasource picker. */
export function datasourceVariable(): dashboard.DatasourceVariableBuilder {
  return new dashboard.DatasourceVariableBuilder("datasource").label("Prometheus").type("prometheus");
}

/**
 * A label-values variable: multi-select with "All", refreshed when the time
 * range changes, sorted alphabetically.
 * @param name variable name, used as `$name` in queries
 * @param label what the picker shows
 * @param metricSelector the series whose label values are offered, e.g. `grpc_server_started_total{job=~"$job"}`
 * @param labelName the label offered
 */
export function labelVariable(name: string, label: string, metricSelector: string, labelName: string): dashboard.QueryVariableBuilder {
  const query = `label_values(${metricSelector}, ${labelName})`;
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(PROMETHEUS)
    .query({ qryType: 1, query, refId: "PrometheusVariableQueryEditor-VariableQuery" })
    .definition(query)
    .multi(true)
    .includeAll(true)
    .allValue(ALL)
    .current({ selected: true, text: ["All"], value: ["$__all"] })
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc);
}

/** `job`: the services (Prometheus jobs `user`, `chat`, `edge`). */
export function jobVariable(metric = "grpc_server_started_total"): dashboard.QueryVariableBuilder {
  return labelVariable("job", "Service (job)", metric, "job");
}

/** `instance`: the processes of the chosen jobs. */
export function instanceVariable(metric = "process_resident_memory_bytes"): dashboard.QueryVariableBuilder {
  return labelVariable("instance", "Instance", `${metric}{job=~"$job"}`, "instance");
}

/** `service`: the gRPC services the chosen jobs serve. */
export function grpcServiceVariable(): dashboard.QueryVariableBuilder {
  return labelVariable("service", "gRPC service", 'grpc_server_started_total{job=~"$job"}', "grpc_service");
}

/** `method`: the methods of the chosen gRPC services. */
export function grpcMethodVariable(): dashboard.QueryVariableBuilder {
  return labelVariable("method", "Method", 'grpc_server_started_total{job=~"$job", grpc_service=~"$service"}', "grpc_method");
}

/**
 * What each dashboard variable is replaced with to run a dashboard query as
 * plain PromQL (the query list and the parse check): every selection "All",
 * and Grafana's rate interval a fixed 1m (four scrapes at the usual 15 s).
 */
export const VARIABLE_DEFAULTS: Readonly<Record<string, string>> = {
  $__rate_interval: "1m",
  $job: ALL,
  $instance: ALL,
  $service: ALL,
  $method: ALL,
};
