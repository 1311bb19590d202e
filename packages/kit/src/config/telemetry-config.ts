import { ConfigError, integer, oneOf, readConfig, text, type Env, type EnvReader } from "./env.js";

/** The samplers OTEL_TRACES_SAMPLER names (the OpenTelemetry spec's). */
export const TRACE_SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

/** What a service's telemetry is configured to do. */
export interface TelemetryConfig {
  /** Serve Prometheus metrics at /metrics on the admin port (`TRELLIS_METRICS`). */
  readonly metrics: boolean;
  /**
   * Tracing is on when an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
   * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `OTEL_TRACES_EXPORTER=console`, and
   * `OTEL_SDK_DISABLED` is not true. Off, no SDK is loaded.
   */
  readonly tracing:
    | false
    | {
        readonly exporter: "otlp" | "console";
        readonly serviceName: string | undefined;
        readonly sampler: (typeof TRACE_SAMPLERS)[number];
        readonly samplerArg: number;
        /** Spans waiting for export at most; past it they are dropped (and counted). */
        readonly maxQueueSize: number;
      };
  /** The share of successful calls whose access line is written (errors always are). */
  readonly logSuccessSampleRate: number;
  /** "json" (ECS lines) or "pretty" (readable, for a terminal). */
  readonly logFormat: "json" | "pretty";
}

/** A number in [min, max] (decimals allowed). */
function ratio(defaultValue: number): EnvReader<number> {
  return (env, name) => {
    const value = env[name]?.trim();
    if (value === undefined || value === "") return defaultValue;
    const parsed = /^\d*\.?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!(parsed >= 0 && parsed <= 1)) throw new ConfigError(name, `${name} must be a number from 0 to 1 (got "${value}")`);
    return parsed;
  };
}

/** An http(s) URL, or undefined when unset. */
function endpoint(): EnvReader<string | undefined> {
  return (env, name) => {
    const value = env[name]?.trim();
    if (value === undefined || value === "") return undefined;
    let protocol: string;
    try {
      protocol = new URL(value).protocol;
    } catch {
      throw new ConfigError(name, `${name} must be a URL like http://collector:4317 (got "${value}")`);
    }
    if (protocol !== "http:" && protocol !== "https:")
      throw new ConfigError(name, `${name} must use http or https (got "${protocol.slice(0, -1)}")`);
    return value;
  };
}

/**
 * Reads the standard OpenTelemetry variables the kit honours, and Trellis'
 * own: `TRELLIS_METRICS` (on), `LOG_SUCCESS_SAMPLE` (1: every successful call
 * logged), `LOG_FORMAT` (pretty on a terminal, else json). A malformed value
 * throws a ConfigError naming it (one line at start-up).
 */
export function readTelemetryConfig(env: Env = process.env, isTerminal = process.stdout.isTTY === true): TelemetryConfig {
  const c = readConfig(
    {
      TRELLIS_METRICS: oneOf(["on", "off"], "on"),
      OTEL_SDK_DISABLED: oneOf(["true", "false"], "false"),
      OTEL_TRACES_EXPORTER: oneOf(["otlp", "console", "none"], "otlp"),
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint(),
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint(),
      OTEL_EXPORTER_OTLP_PROTOCOL: oneOf(["grpc"], "grpc"),
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: oneOf(["grpc"], "grpc"),
      OTEL_SERVICE_NAME: text({ default: "", pattern: /^[\w.-]*$/, expected: "a service name (letters, digits, . _ -)" }),
      OTEL_TRACES_SAMPLER: oneOf(TRACE_SAMPLERS, "parentbased_traceidratio"),
      OTEL_TRACES_SAMPLER_ARG: ratio(1),
      OTEL_BSP_MAX_QUEUE_SIZE: integer({ default: 2048, min: 1, max: 1_000_000 }),
      LOG_SUCCESS_SAMPLE: ratio(1),
      LOG_FORMAT: oneOf<"json" | "pretty">(["json", "pretty"], isTerminal ? "pretty" : "json"),
    },
    env,
  );
  const exporting =
    c.OTEL_TRACES_EXPORTER === "console" ||
    c.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
    c.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined;
  const tracing =
    c.OTEL_SDK_DISABLED === "true" || c.OTEL_TRACES_EXPORTER === "none" || !exporting
      ? false
      : {
          exporter: c.OTEL_TRACES_EXPORTER === "console" ? ("console" as const) : ("otlp" as const),
          serviceName: c.OTEL_SERVICE_NAME === "" ? undefined : c.OTEL_SERVICE_NAME,
          sampler: c.OTEL_TRACES_SAMPLER,
          samplerArg: c.OTEL_TRACES_SAMPLER_ARG,
          maxQueueSize: c.OTEL_BSP_MAX_QUEUE_SIZE,
        };
  return { metrics: c.TRELLIS_METRICS === "on", tracing, logSuccessSampleRate: c.LOG_SUCCESS_SAMPLE, logFormat: c.LOG_FORMAT };
}
