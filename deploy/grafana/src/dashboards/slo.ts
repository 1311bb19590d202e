import { AVAILABILITY, BURN_RATE_WINDOWS, LATENCY, SLO_PERIOD, errorBudget, type Objective } from "../slo/objectives.js";
import { sliRecordName } from "../rules/slo-rules.js";
import { availabilityErrorRatio, latencyErrorRatio } from "../slo/sli.js";
import { finish, trellisDashboard, type GeneratedDashboard } from "./dashboard.js";
import { row, statPanel, timeseriesPanel, type Query } from "./panels.js";
import { jobVariable } from "./variables.js";

/**
 * The SLOs of every service: how much of the 30-day error budget is left, and
 * the burn rates the alerts watch, from the recording rules in
 * deploy/prometheus/rules (so the panels show exactly what the alerts see).
 */

const JOB = 'job=~"$job"';

/** Burn rate over each alert window: the recorded error ratio divided by the budget. */
function burnRateQueries(objective: Objective): Query[] {
  const budget = errorBudget(objective);
  const windows = [...new Set(BURN_RATE_WINDOWS.flatMap((w) => [w.short, w.long]))];
  return windows.map((w) => ({ expr: `${sliRecordName(objective, w)}{${JOB}} / ${budget}`, legend: `{{job}} ${w}` }));
}

/** Dashed lines at each alert's burn rate. */
function burnRateLines(): { value: number; color: string }[] {
  return BURN_RATE_WINDOWS.map((w) => ({ value: w.burnRate, color: w.severity === "page" ? "red" : "orange" }));
}

/** The "SLOs" dashboard. */
export function sloDashboard(): GeneratedDashboard {
  const availabilityBudget = errorBudget(AVAILABILITY);
  const latencyBudget = errorBudget(LATENCY);
  const builder = trellisDashboard(
    "trellis-slo",
    "Trellis / SLOs and error budgets",
    `Availability (${AVAILABILITY.description}) and latency (${LATENCY.description}) of every service, with the burn rates of the multiwindow, multi-burn-rate alerts (Google SRE workbook).`,
  )
    .withVariable(jobVariable())

    .withRow(row(`Availability: ${AVAILABILITY.target * 100} % over ${SLO_PERIOD}`))
    .withPanel(
      statPanel(
        `Availability over ${SLO_PERIOD}`,
        "Fraction of calls over the SLO period that did not count as server faults.",
        [{ expr: `1 - (${availabilityErrorRatio(SLO_PERIOD, JOB)})`, legend: "{{job}}" }],
        {
          unit: "percentunit",
          decimals: 3,
          steps: [
            { value: 0, color: "red" },
            { value: AVAILABILITY.target, color: "green" },
          ],
        },
      ),
    )
    .withPanel(
      statPanel(
        `Availability error budget left (${SLO_PERIOD})`,
        `1 − (server-fault ratio over ${SLO_PERIOD}) / ${availabilityBudget}. Below 0 the SLO is missed.`,
        [{ expr: `1 - (${availabilityErrorRatio(SLO_PERIOD, JOB)}) / ${availabilityBudget}`, legend: "{{job}}" }],
        {
          unit: "percentunit",
          decimals: 1,
          steps: [
            { value: 0, color: "red" },
            { value: 0, color: "orange" },
            { value: 0.25, color: "green" },
          ],
        },
      ),
    )
    .withPanel(
      statPanel(
        `Latency SLI over ${SLO_PERIOD}`,
        "Fraction of unary calls answered within 250 ms over the SLO period.",
        [{ expr: `1 - (${latencyErrorRatio(SLO_PERIOD, JOB)})`, legend: "{{job}}" }],
        {
          unit: "percentunit",
          decimals: 2,
          steps: [
            { value: 0, color: "red" },
            { value: LATENCY.target, color: "green" },
          ],
        },
      ),
    )
    .withPanel(
      statPanel(
        `Latency error budget left (${SLO_PERIOD})`,
        `1 − (fraction of unary calls slower than 250 ms over ${SLO_PERIOD}) / ${latencyBudget}.`,
        [{ expr: `1 - (${latencyErrorRatio(SLO_PERIOD, JOB)}) / ${latencyBudget}`, legend: "{{job}}" }],
        {
          unit: "percentunit",
          decimals: 1,
          steps: [
            { value: 0, color: "red" },
            { value: 0, color: "orange" },
            { value: 0.25, color: "green" },
          ],
        },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Availability burn rate per alert window",
        "How many times faster than sustainable the availability budget is being spent, over each window the alerts use. A page needs both windows of a pair above its line: 1h and 5m above 14.4, or 6h and 30m above 6; a ticket 1d and 2h above 3, or 3d and 6h above 1.",
        burnRateQueries(AVAILABILITY),
        { unit: "short", thresholds: burnRateLines() },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Latency burn rate per alert window",
        "The same windows and lines for the latency SLO (budget: 1 % of unary calls slower than 250 ms).",
        burnRateQueries(LATENCY),
        { unit: "short", thresholds: burnRateLines() },
      ),
    )

    .withRow(row("Error ratios the alerts read"))
    .withPanel(
      timeseriesPanel(
        "Server-fault ratio (5m, 1h, 6h)",
        `Recorded by deploy/prometheus/rules/slo-availability.yml. Budget: ${availabilityBudget}.`,
        ["5m", "1h", "6h"].map((w) => ({ expr: `${sliRecordName(AVAILABILITY, w)}{${JOB}}`, legend: `{{job}} ${w}` })),
        { unit: "percentunit", thresholds: [{ value: availabilityBudget, color: "red" }] },
      ),
    )
    .withPanel(
      timeseriesPanel(
        "Slow-call ratio (5m, 1h, 6h)",
        `Recorded by deploy/prometheus/rules/slo-latency.yml. Budget: ${latencyBudget}.`,
        ["5m", "1h", "6h"].map((w) => ({ expr: `${sliRecordName(LATENCY, w)}{${JOB}}`, legend: `{{job}} ${w}` })),
        { unit: "percentunit", thresholds: [{ value: latencyBudget, color: "red" }] },
      ),
    );
  return finish("slo.json", builder);
}
