import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "./env.js";
import { readTelemetryConfig } from "./telemetry-config.js";

describe("telemetry config", () => {
  it("has metrics on and tracing off (no SDK loaded) until an exporter is configured", () => {
    const config = readTelemetryConfig({}, false);
    assert.deepEqual(config, { metrics: true, tracing: false, logSuccessSampleRate: 1, logFormat: "json" });
    assert.equal(readTelemetryConfig({}, true).logFormat, "pretty", "readable lines at a terminal");
  });

  it("turns tracing on with an OTLP endpoint, with parent-based ratio sampling", () => {
    const config = readTelemetryConfig(
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4317", OTEL_TRACES_SAMPLER_ARG: "0.01", OTEL_SERVICE_NAME: "users" },
      false,
    );
    assert.deepEqual(config.tracing, {
      exporter: "otlp",
      serviceName: "users",
      sampler: "parentbased_traceidratio",
      samplerArg: 0.01,
      maxQueueSize: 2048,
    });
    assert.equal(readTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x:4317", OTEL_SDK_DISABLED: "true" }, false).tracing, false);
    assert.equal(readTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x:4317", OTEL_TRACES_EXPORTER: "none" }, false).tracing, false);
  });

  for (const [name, value] of [
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector"],
    ["OTEL_TRACES_SAMPLER", "sometimes"],
    ["OTEL_TRACES_SAMPLER_ARG", "2"],
    ["OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"],
    ["OTEL_BSP_MAX_QUEUE_SIZE", "0"],
    ["LOG_SUCCESS_SAMPLE", "half"],
    ["LOG_FORMAT", "xml"],
    ["TRELLIS_METRICS", "maybe"],
  ] as const) {
    it(`refuses ${name}=${value} with one line naming it`, () => {
      assert.throws(
        () => readTelemetryConfig({ [name]: value }, false),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.variable === name &&
          error.message.startsWith(`${name} must`) &&
          !error.message.includes("\n"),
      );
    });
  }
});
