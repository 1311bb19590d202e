import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Histogram, Registry, type OpenMetricsContentType, type PrometheusContentType } from "prom-client";
import { createLeanHistogram } from "./lean-histogram.js";

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVED: [labels: Record<string, string>, value: number][] = [
  [{ db_system: "pglite", operation: "select" }, 0.0005],
  [{ db_system: "pglite", operation: "select" }, 0.001], // on a bound: counted in it (le is ≤)
  [{ db_system: "pglite", operation: "select" }, 0.05],
  [{ db_system: "pglite", operation: "insert" }, 3],
  [{ db_system: "postgresql", operation: "select" }, 0.02],
];

describe("lean histogram", () => {
  for (const format of ["prometheus", "openmetrics"] as const) {
    it(`serves exactly what prom-client's Histogram serves for the same observations (${format})`, async () => {
      const make = (): Registry<PrometheusContentType> | Registry<OpenMetricsContentType> => {
        if (format === "prometheus") return new Registry();
        const registry = new Registry<OpenMetricsContentType>();
        registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
        return registry;
      };
      const reference = make();
      const histogram = new Histogram({
        name: "q_seconds",
        help: "h",
        labelNames: ["db_system", "operation"],
        buckets: BUCKETS,
        registers: [reference],
      });
      const lean = make();
      const leanHistogram = createLeanHistogram({ name: "q_seconds", help: "h", buckets: BUCKETS, registry: lean });
      for (const [labels, value] of OBSERVED) {
        histogram.observe(labels, value);
        leanHistogram.series(labels)(value);
      }
      assert.equal(await lean.metrics(), await reference.metrics());
      reference.resetMetrics();
      lean.resetMetrics();
      assert.equal(
        (await lean.getMetricsAsJSON())[0]?.values.every((v) => v.value === 0),
        true,
        "reset zeroes every series",
      );
    });
  }
});
