import { finish, trellisDashboard, type GeneratedDashboard } from "./dashboard.js";
import { row, timeseriesPanel } from "./panels.js";
import { jobVariable } from "./variables.js";

/**
 * The client kit's view of the services it calls: breakers, retries and their
 * budget, the p2c_ewma balancer's picks per endpoint, and registry membership.
 * `job` is the calling service; `target` the callee's target.
 */

const JOB = 'job=~"$job"';

/** The "Client resilience" dashboard. */
export function resilienceDashboard(): GeneratedDashboard {
  const builder = trellisDashboard(
    "trellis-resilience",
    "Trellis / Client resilience, balancing and discovery",
    "What each service's client kit does with its calls to other services: SRE breakers, retries and the retry budget, the p2c_ewma balancer, and the instances the registry lists.",
  )
    .withVariable(jobVariable("trellis_registry_instances"))

    .withRow(row("Breakers"))
    .withPanel(
      timeseriesPanel(
        "Breaker state",
        "0 closed (every call goes through), 1 throttling (the SRE breaker rejects a share of calls locally with UNAVAILABLE, ErrorInfo CIRCUIT_OPEN).",
        [{ expr: `max by (job, target, method) (trellis_breaker_state{${JOB}})`, legend: "{{job}} → {{target}} {{method}}" }],
        { unit: "short", steps: true, max: 1 },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Breaker rejections per second",
        "Calls the breaker refused without sending them.",
        [
          {
            expr: `sum by (job, target, method) (rate(trellis_breaker_rejections_total{${JOB}}[$__rate_interval]))`,
            legend: "{{job}} → {{target}} {{method}}",
          },
        ],
        { unit: "reqps" },
      ),
    )

    .withRow(row("Retries"))
    .withPanel(
      timeseriesPanel(
        "Attempts and retries per second",
        "Attempts: every try sent, first ones included; retries: the tries after the first.",
        [
          {
            expr: `sum by (job, target) (rate(trellis_retry_attempts_total{${JOB}}[$__rate_interval]))`,
            legend: "{{job}} → {{target}} attempts",
          },
          {
            expr: `sum by (job, target) (rate(trellis_retry_retries_total{${JOB}}[$__rate_interval]))`,
            legend: "{{job}} → {{target}} retries",
          },
        ],
        { unit: "reqps" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Retry share and budget exhaustion",
        "Retries as a share of attempts (the budget caps it), and retries refused per second because the budget was spent.",
        [
          {
            expr:
              `sum by (job, target) (rate(trellis_retry_retries_total{${JOB}}[$__rate_interval]))\n/\n` +
              `sum by (job, target) (rate(trellis_retry_attempts_total{${JOB}}[$__rate_interval]))`,
            legend: "{{job}} → {{target}} retry share",
          },
          {
            expr: `sum by (job, target) (rate(trellis_retry_budget_exhausted_total{${JOB}}[$__rate_interval]))`,
            legend: "{{job}} → {{target}} budget exhausted /s",
          },
        ],
        { unit: "short" },
      ),
    )

    .withRow(row("Balancing and discovery"))
    .withPanel(
      timeseriesPanel(
        "Balancer picks per second by endpoint",
        "Calls the p2c_ewma balancer sent to each endpoint: a slow or failing endpoint gets fewer.",
        [
          {
            expr: `sum by (job, target, endpoint) (rate(trellis_balancer_picks_total{${JOB}}[$__rate_interval]))`,
            legend: "{{job}} → {{target}} {{endpoint}}",
          },
        ],
        { unit: "reqps" },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Share of picks by endpoint",
        "Each endpoint's share of its target's picks.",
        [
          {
            expr:
              `sum by (job, target, endpoint) (rate(trellis_balancer_picks_total{${JOB}}[$__rate_interval]))\n` +
              `/ on (job, target) group_left\n` +
              `sum by (job, target) (rate(trellis_balancer_picks_total{${JOB}}[$__rate_interval]))`,
            legend: "{{job}} → {{target}} {{endpoint}}",
          },
        ],
        { unit: "percentunit", stacked: true, max: 1 },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Registry instances",
        "Instances the registry lists for each service a job calls (static, DNS, etcd or Consul). 0 means every call to it fails.",
        [{ expr: `max by (job, service) (trellis_registry_instances{${JOB}})`, legend: "{{job}} sees {{service}}" }],
        { unit: "short", steps: true, width: 24 },
      ),
    );
  return finish("resilience.json", builder);
}
