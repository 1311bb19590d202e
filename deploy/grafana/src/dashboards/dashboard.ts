import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import { datasourceVariable } from "./variables.js";

/** The tag every Trellis dashboard carries; the dashboards link to each other through it. */
export const TRELLIS_TAG = "trellis";

/** A generated dashboard: the file it is written to and its JSON model. */
export interface GeneratedDashboard {
  /** File name under deploy/grafana/dashboards/, e.g. `grpc-red.json`. */
  readonly fileName: string;
  readonly model: dashboard.Dashboard;
}

/**
 * A dashboard builder with Trellis' settings: a stable uid (links and
 * provisioning rely on it), the last hour refreshed every 30 s, a shared
 * crosshair, links to the other Trellis dashboards, and the datasource picker
 * as its first variable.
 */
export function trellisDashboard(uid: string, title: string, description: string): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags([TRELLIS_TAG])
    .editable()
    .timezone("browser")
    .time({ from: "now-1h", to: "now" })
    .refresh("30s")
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(
      new dashboard.DashboardLinkBuilder("Trellis")
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags([TRELLIS_TAG])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
    )
    .withVariable(datasourceVariable());
}

/**
 * Builds the dashboard and numbers its panels 1, 2, 3… in grid order (the
 * builders leave ids unset; Grafana needs them unique for links to a panel).
 */
export function finish(fileName: string, builder: dashboard.DashboardBuilder): GeneratedDashboard {
  const model = builder.build();
  let id = 0;
  for (const panel of model.panels ?? []) {
    panel.id = ++id;
    if ("panels" in panel && Array.isArray(panel.panels)) {
      for (const inner of panel.panels as { id?: number }[]) inner.id = ++id;
    }
  }
  return { fileName, model };
}
