import type { DescMethod } from "@bufbuild/protobuf";
import { Counter, Histogram, Registry, type OpenMetricsContentType, type PrometheusContentType } from "prom-client";

/** A prom-client registry of either exposition format. */
export type MetricsRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;
import type { Code } from "../errors/code.js";

/**
 * The buckets of `grpc_*_handling_seconds`: Prometheus' default buckets, which
 * go-grpc-prometheus uses, so dashboards built for Go services read ours.
 */
export const HANDLING_SECONDS_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** `grpc_type` as go-grpc-prometheus spells it. */
export type GrpcType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

/** The label values of a method that is not served here (bounded cardinality). */
export const UNKNOWN_METHOD = { grpc_service: "unknown", grpc_method: "unknown" } as const;

/** One side's families, with go-grpc-prometheus' names and labels. */
export interface SideMetrics {
  /** `grpc_<side>_started_total{grpc_type, grpc_service, grpc_method}` */
  readonly started: Counter<"grpc_type" | "grpc_service" | "grpc_method">;
  /** `grpc_<side>_handled_total{…, grpc_code}` */
  readonly handled: Counter<"grpc_type" | "grpc_service" | "grpc_method" | "grpc_code">;
  /** `grpc_<side>_msg_received_total{grpc_type, grpc_service, grpc_method}` */
  readonly msgReceived: Counter<"grpc_type" | "grpc_service" | "grpc_method">;
  /** `grpc_<side>_msg_sent_total{grpc_type, grpc_service, grpc_method}` */
  readonly msgSent: Counter<"grpc_type" | "grpc_service" | "grpc_method">;
  /** `grpc_<side>_handling_seconds{grpc_type, grpc_service, grpc_method}`, with trace-id exemplars */
  readonly handling: Histogram<"grpc_type" | "grpc_service" | "grpc_method">;
}

/** The gRPC metrics of a process: the server's and the client's families. */
export interface GrpcMetrics {
  readonly registry: MetricsRegistry;
  /** Whether the histograms keep exemplars (prom-client allows them on OpenMetrics registries only). */
  readonly exemplars: boolean;
  readonly server: SideMetrics;
  readonly client: SideMetrics;
}

/** Options of {@link createGrpcMetrics}. */
export interface GrpcMetricsOptions {
  /** Buckets of the handling-time histograms, in seconds. @default HANDLING_SECONDS_BUCKETS */
  readonly buckets?: readonly number[];
}

/**
 * Registers go-grpc-prometheus' metric families (server and client) in
 * `registry` — an injected registry, never prom-client's global one. On an
 * OpenMetrics registry the handling-time histograms keep exemplars: a slow
 * bucket links to a trace.
 */
export function createGrpcMetrics(registry: MetricsRegistry, options: GrpcMetricsOptions = {}): GrpcMetrics {
  const buckets = [...(options.buckets ?? HANDLING_SECONDS_BUCKETS)];
  const exemplars = registry.contentType === Registry.OPENMETRICS_CONTENT_TYPE;
  const side = (name: "server" | "client"): SideMetrics => {
    const what = name === "server" ? "RPCs started on the server" : "RPCs started on the client";
    const labelNames = ["grpc_type", "grpc_service", "grpc_method"] as const;
    return {
      started: new Counter({ name: `grpc_${name}_started_total`, help: `Total number of ${what}.`, labelNames, registers: [registry] }),
      handled: new Counter({
        name: `grpc_${name}_handled_total`,
        help: `Total number of RPCs completed on the ${name}, regardless of success or failure.`,
        labelNames: [...labelNames, "grpc_code"],
        registers: [registry],
      }),
      msgReceived: new Counter({
        name: `grpc_${name}_msg_received_total`,
        help: `Total number of RPC stream messages received by the ${name}.`,
        labelNames,
        registers: [registry],
      }),
      msgSent: new Counter({
        name: `grpc_${name}_msg_sent_total`,
        help: `Total number of gRPC stream messages sent by the ${name}.`,
        labelNames,
        registers: [registry],
      }),
      handling: new Histogram({
        name: `grpc_${name}_handling_seconds`,
        help:
          name === "server"
            ? "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server."
            : "Histogram of response latency (seconds) of the gRPC until it is finished by the application.",
        labelNames,
        buckets,
        enableExemplars: exemplars,
        registers: [registry],
      }),
    };
  };
  return { registry, exemplars, server: side("server"), client: side("client") };
}

/** go-grpc-prometheus' `grpc_type` of a method. */
export function grpcType(method: DescMethod): GrpcType {
  switch (method.methodKind) {
    case "unary":
      return "unary";
    case "client_streaming":
      return "client_stream";
    case "server_streaming":
      return "server_stream";
    case "bidi_streaming":
      return "bidi_stream";
  }
}

const GO_CODE_NAMES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
] as const;

/** A code as grpc-go's `codes.Code.String()` spells it, which go-grpc-prometheus puts in `grpc_code`. */
export function goCodeName(code: Code): string {
  return GO_CODE_NAMES[code] ?? `Code(${code})`;
}
