import type * as cog from "@grafana/grafana-foundation-sdk/cog";
import * as common from "@grafana/grafana-foundation-sdk/common";
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder, PromQueryFormat, QueryEditorMode } from "@grafana/grafana-foundation-sdk/prometheus";
import * as heatmap from "@grafana/grafana-foundation-sdk/heatmap";
import * as stat from "@grafana/grafana-foundation-sdk/stat";
import * as timeseries from "@grafana/grafana-foundation-sdk/timeseries";

/**
 * Panel and query builders shared by every dashboard: one Prometheus
 * datasource chosen by the `datasource` variable, queries written in code mode,
 * and the few panel shapes Trellis' dashboards use.
 */

/** The Prometheus datasource every query uses: the dashboard's `datasource` variable. */
export const PROMETHEUS: common.DataSourceRef = { type: "prometheus", uid: "${datasource}" };

/** A PromQL range query with a legend. */
export interface Query {
  readonly expr: string;
  /** Legend template, e.g. `{{job}} {{grpc_code}}`. */
  readonly legend: string;
}

/** Options of the timeseries panel helper. */
export interface TimeseriesOptions {
  /** Grafana unit id (`reqps`, `s`, `percentunit`, `bytes`, `short`). */
  readonly unit: string;
  /** Panel width in grid columns (of 24). @default 12 */
  readonly width?: number;
  /** Panel height in grid rows. @default 8 */
  readonly height?: number;
  /** Stack the series (e.g. errors by code). @default false */
  readonly stacked?: boolean;
  /** Draw each series as steps (states, gauges that jump). @default false */
  readonly steps?: boolean;
  /** Lower bound of the y axis. @default 0 */
  readonly min?: number;
  /** Upper bound of the y axis. @default automatic */
  readonly max?: number;
  /** Dashed threshold lines: value → colour (e.g. burn rates). @default none */
  readonly thresholds?: readonly { readonly value: number; readonly color: string }[];
}

/** A Prometheus range query builder with its legend. */
export function promQuery(query: Query, refId: string): DataqueryBuilder {
  return new DataqueryBuilder()
    .datasource(PROMETHEUS)
    .editorMode(QueryEditorMode.Code)
    .expr(query.expr)
    .legendFormat(query.legend)
    .range()
    .refId(refId);
}

/** Query refIds A, B, C… */
function refIds(queries: readonly Query[]): cog.Builder<cog.Dataquery>[] {
  return queries.map((q, i) => promQuery(q, String.fromCharCode(65 + i)));
}

/** A timeseries panel of one or more queries. */
export function timeseriesPanel(
  title: string,
  description: string,
  queries: readonly Query[],
  options: TimeseriesOptions,
): timeseries.PanelBuilder {
  const panel = new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .targets(refIds(queries))
    .unit(options.unit)
    .min(options.min ?? 0)
    .span(options.width ?? 12)
    .height(options.height ?? 8)
    .lineWidth(1)
    .fillOpacity(options.stacked === true ? 30 : 10)
    .showPoints(common.VisibilityMode.Never)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(["mean", "max", "lastNotNull"]),
    )
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
  if (options.max !== undefined) panel.max(options.max);
  if (options.stacked === true) panel.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  if (options.steps === true) panel.lineInterpolation(common.LineInterpolation.StepAfter);
  if (options.thresholds !== undefined && options.thresholds.length > 0) {
    panel
      .thresholds(
        new dashboard.ThresholdsConfigBuilder()
          .mode(dashboard.ThresholdsMode.Absolute)
          .steps([{ value: null, color: "transparent" }, ...options.thresholds]),
      )
      .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed));
  }
  return panel;
}

/** Options of the stat panel helper. */
export interface StatOptions {
  readonly unit: string;
  readonly width?: number;
  readonly height?: number;
  /** Colour steps from the lowest value up: the first step's value is ignored (base). */
  readonly steps: readonly { readonly value: number; readonly color: string }[];
  /** Decimals shown. @default automatic */
  readonly decimals?: number;
}

/** A stat panel (one big number per series) of instant queries. */
export function statPanel(title: string, description: string, queries: readonly Query[], options: StatOptions): stat.PanelBuilder {
  const [first, ...rest] = options.steps;
  const panel = new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .targets(queries.map((q, i) => promQuery(q, String.fromCharCode(65 + i)).instant()))
    .unit(options.unit)
    .span(options.width ?? 6)
    .height(options.height ?? 5)
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false))
    .thresholds(
      new dashboard.ThresholdsConfigBuilder()
        .mode(dashboard.ThresholdsMode.Absolute)
        .steps([{ value: null, color: first?.color ?? "green" }, ...rest]),
    );
  if (options.decimals !== undefined) panel.decimals(options.decimals);
  return panel;
}

/**
 * A latency heatmap of a Prometheus histogram: one query returning per-`le`
 * bucket increases, shown as Grafana's pre-bucketed heatmap (no
 * re-bucketing), with exemplars (trace ids) on top.
 */
export function heatmapPanel(
  title: string,
  description: string,
  expr: string,
  options: { readonly width?: number; readonly height?: number } = {},
): heatmap.PanelBuilder {
  return new heatmap.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .withTarget(promQuery({ expr, legend: "{{le}}" }, "A").format(PromQueryFormat.Heatmap).exemplar(true))
    .span(options.width ?? 24)
    .height(options.height ?? 9)
    .calculate(false)
    .color(
      new heatmap.HeatmapColorOptionsBuilder()
        .mode(heatmap.HeatmapColorMode.Scheme)
        .scheme("Oranges")
        .scale(heatmap.HeatmapColorScale.Exponential)
        .exponent(0.5)
        .steps(64),
    )
    .yAxis(new heatmap.YAxisConfigBuilder().unit("s").axisPlacement(common.AxisPlacement.Left))
    .rowsFrame(new heatmap.RowsHeatmapOptionsBuilder().layout(common.HeatmapCellLayout.Le))
    .cellGap(1)
    .showValue(common.VisibilityMode.Never)
    .tooltip(new heatmap.HeatmapTooltipBuilder().mode(common.TooltipDisplayMode.Single).yHistogram(true))
    .showLegend()
    .exemplarsColor("rgba(255,0,255,0.7)");
}

/** A collapsed-by-default row title. */
export function row(title: string): dashboard.RowBuilder {
  return new dashboard.RowBuilder(title);
}
