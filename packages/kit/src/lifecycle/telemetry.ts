import { performance } from "node:perf_hooks";
import { TraceFlags, trace, type Tracer } from "@opentelemetry/api";
import { collectDefaultMetrics, Counter, Gauge, Registry, type OpenMetricsContentType } from "prom-client";
import type { SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { Interceptor } from "../call/interceptor.js";
import type { TelemetryConfig } from "../config/telemetry-config.js";
import { createMetricsInterceptor } from "../interceptors/metrics.js";
import type { Logger } from "../observability/logger.js";
import { createGrpcMetrics, type GrpcMetrics } from "../observability/grpc-metrics.js";
import { createTracingInterceptor, sampledTraceId } from "../observability/tracing.js";

/** A service's metrics and tracing, as runService sets them up. */
export interface Telemetry {
  /** Every metric of the process (never prom-client's global registry). */
  readonly registry: Registry<OpenMetricsContentType>;
  readonly grpc: GrpcMetrics;
  /** The tracer when tracing is on. */
  readonly tracer: Tracer | undefined;
  /** Tracing (when on) then metrics: the outermost links of both the server's and the clients' chains. */
  readonly interceptors: readonly Interceptor[];
  /** Flushes the spans still queued and stops the exporter. */
  shutdown(): Promise<void>;
}

/**
 * Sets up a service's telemetry from its configuration: a Prometheus registry
 * with go-grpc-prometheus' families, Node's runtime metrics (prom-client's
 * defaults plus event-loop utilisation) and, when tracing is configured, the
 * OpenTelemetry SDK — loaded only then, so a service without tracing pays
 * nothing for it.
 */
export async function startTelemetry(
  config: TelemetryConfig,
  options: { readonly serviceName: string; readonly logger: Logger },
): Promise<Telemetry> {
  // OpenMetrics, so that the latency histograms' exemplars (trace ids) reach Prometheus.
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  collectDefaultMetrics({ register: registry });
  registerEventLoopUtilization(registry);
  const grpc = createGrpcMetrics(registry);
  const tracing = config.tracing === false ? undefined : await startTracing(config.tracing, options.serviceName, registry, options.logger);
  const metrics = config.metrics ? [createMetricsInterceptor(grpc, { traceIdOf: sampledTraceId })] : [];
  return {
    registry,
    grpc,
    tracer: tracing?.tracer,
    interceptors:
      tracing === undefined ? metrics : [createTracingInterceptor({ tracer: tracing.tracer, sampleRoot: tracing.sampleRoot }), ...metrics],
    shutdown: async () => {
      await tracing?.shutdown();
    },
  };
}

/** `nodejs_eventloop_utilization`: the share of time the event loop was busy since the last scrape. */
function registerEventLoopUtilization(registry: Registry<OpenMetricsContentType>): void {
  let last = performance.eventLoopUtilization();
  new Gauge({
    name: "nodejs_eventloop_utilization",
    help: "Share of time the event loop was busy (not idle waiting for I/O) since the previous scrape, 0 to 1.",
    registers: [registry],
    collect() {
      const now = performance.eventLoopUtilization();
      this.set(performance.eventLoopUtilization(now, last).utilization);
      last = now;
    },
  });
}

interface Tracing {
  readonly tracer: Tracer;
  /** The root sampler's decision for a call that begins a trace, made before its span (see createTracingInterceptor). */
  readonly sampleRoot: () => boolean;
  shutdown(): Promise<void>;
}

/**
 * The SDK, configured from the validated OTEL_* variables: parent-based or
 * plain ratio sampling, batch export over OTLP gRPC (the exporter reads
 * OTEL_EXPORTER_OTLP_* itself) behind a bounded queue whose overflow is
 * dropped and counted (`trellis_otel_spans_total{outcome="dropped"}`), so a
 * collector that is down or slow never holds a call up.
 */
async function startTracing(
  config: Exclude<TelemetryConfig["tracing"], false>,
  serviceName: string,
  registry: Registry<OpenMetricsContentType>,
  logger: Logger,
): Promise<Tracing> {
  const sdk = await import("@opentelemetry/sdk-trace-node");
  const { resourceFromAttributes } = await import("@opentelemetry/resources");
  const exporter: SpanExporter =
    config.exporter === "console"
      ? new sdk.ConsoleSpanExporter()
      : new (await import("@opentelemetry/exporter-trace-otlp-grpc")).OTLPTraceExporter();
  const outcomes = new Counter({
    name: "trellis_otel_spans_total",
    help: "Sampled spans by what became of them: exported, failed (the exporter gave up), dropped (the export queue was full).",
    labelNames: ["outcome"],
    registers: [registry],
  });
  // The queue bound is ours, in front of the SDK's own: the SDK drops silently.
  let pending = 0;
  const counted: SpanExporter = {
    export: (spans, done) =>
      exporter.export(spans, (result) => {
        pending -= spans.length;
        outcomes.inc({ outcome: result.code === 0 ? "exported" : "failed" }, spans.length);
        if (result.code !== 0) logger.warn({ "error.message": result.error?.message }, `could not export ${spans.length} spans`);
        done(result);
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
  const batch = new sdk.BatchSpanProcessor(counted, { maxQueueSize: config.maxQueueSize });
  const guarded: SpanProcessor = {
    onStart: (span, parentContext) => batch.onStart(span, parentContext),
    onEnd: (span) => {
      if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
      if (pending >= config.maxQueueSize) {
        outcomes.inc({ outcome: "dropped" });
        return;
      }
      pending += 1;
      batch.onEnd(span);
    },
    shutdown: () => batch.shutdown(),
    forceFlush: () => batch.forceFlush(),
  };
  const ratio = new sdk.TraceIdRatioBasedSampler(config.samplerArg);
  const sampler = {
    always_on: new sdk.AlwaysOnSampler(),
    always_off: new sdk.AlwaysOffSampler(),
    traceidratio: ratio,
    parentbased_always_on: new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() }),
    parentbased_always_off: new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() }),
    parentbased_traceidratio: new sdk.ParentBasedSampler({ root: ratio }),
  }[config.sampler];
  const { createPresampledSampler } = await import("../observability/presampled-sampler.js");
  const rootProbability = config.sampler.endsWith("always_on") ? 1 : config.sampler.endsWith("always_off") ? 0 : config.samplerArg;
  const provider = new sdk.NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": config.serviceName ?? serviceName }),
    sampler: createPresampledSampler(sampler),
    spanProcessors: [guarded],
  });
  // W3C trace context propagation and the AsyncLocalStorage context manager.
  provider.register();
  return {
    tracer: trace.getTracer("@trellis/kit"),
    sampleRoot: rootProbability >= 1 ? () => true : () => Math.random() < rootProbability,
    shutdown: () => provider.shutdown(),
  };
}
