/**
 * What a service shows of itself: logging (pino with Elastic Common Schema
 * field names) and its stdout writer; go-grpc-prometheus' metrics for the
 * server and client sides and the kit's client metrics (breakers, retries,
 * balancer picks, registry sets); OpenTelemetry tracing. `runService` wires
 * all of it from the environment; these are for a server built by hand.
 */
export { createLogger, type Logger, type LoggerOptions } from "./logger.js";
export { createCoalescingDestination, type CoalescingDestination, type CoalescingDestinationOptions } from "./coalescing-destination.js";
export { createDeferredQueue, type DeferredQueue } from "./after-responses.js";
export {
  createGrpcMetrics,
  HANDLING_SECONDS_BUCKETS,
  type GrpcMetrics,
  type GrpcMetricsOptions,
  type MetricsRegistry,
} from "./grpc-metrics.js";
export { createMetricsInterceptor, type MetricsInterceptorOptions } from "../interceptors/metrics.js";
export { createClientMetrics, type ClientMetrics, type ClientMetricsSource, type ClientObserver } from "../client/client-metrics.js";
export { createTracingInterceptor, sampledTraceId, type TracingInterceptorOptions } from "./tracing.js";
