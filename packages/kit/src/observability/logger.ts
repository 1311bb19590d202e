import { isSpanContextValid, trace } from "@opentelemetry/api";
import { ecsFormat } from "@elastic/ecs-pino-format";
import { pino, type Logger as PinoLogger, type DestinationStream } from "pino";
import pretty from "pino-pretty";
import { createCoalescingDestination } from "./coalescing-destination.js";

/** The kit's logger: pino, one ECS JSON object per line. */
export type Logger = PinoLogger;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level: trace, debug, info, warn, error, fatal, silent. @default "info" */
  readonly level?: string;
  /** `service.name` on every line. @default "trellis" */
  readonly serviceName?: string;
  /**
   * "json": Elastic Common Schema lines, for Filebeat/the collector; "pretty":
   * readable lines for a person at a terminal. @default "json"
   */
  readonly format?: "json" | "pretty";
  /**
   * Where lines go. @default stdout via createCoalescingDestination(): the
   * lines of one event-loop turn go out in one write at the end of the turn,
   * and pending lines are written on exit.
   */
  readonly destination?: DestinationStream;
}

/**
 * A pino logger with Elastic's ECS formatter (`@timestamp`, `log.level`,
 * `message`, `service.name`, `ecs.version`, `error.*`), so Filebeat or the
 * OpenTelemetry collector ship its lines to Elasticsearch without an ingest
 * pipeline. A line written inside a traced call carries the call's
 * `trace.id` and `span.id`. Two changes to the formatter's output path, both
 * measured: the timestamp is formatted at most once per millisecond (its
 * `toISOString()` per line was the formatter's largest cost, ~1 µs a line),
 * and errors go under `error` (the kit's key) with ECS' field names.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const ecs = ecsFormat({ serviceName: options.serviceName ?? "trellis", convertErr: false, apmIntegration: false });
  const destination =
    options.destination ??
    (options.format === "pretty"
      ? pretty({ colorize: true, messageKey: "message", timestampKey: "@timestamp", ignore: "ecs.version,service.name" })
      : createCoalescingDestination());
  return pino(
    {
      ...ecs,
      level: options.level ?? "info",
      errorKey: "error",
      timestamp: createIsoTimestamp(),
      mixin: traceFields,
      // pino's default writes the line's fields into the mixin's object; ours is shared when empty.
      mixinMergeStrategy: (mergeObject: object, mixinObject: object) =>
        mixinObject === NO_FIELDS ? mergeObject : { ...mixinObject, ...mergeObject },
      serializers: {
        error: (err: unknown) =>
          err instanceof Error ? { type: err.name, message: err.message, stack_trace: err.stack } : { message: String(err) },
      },
    },
    destination,
  );
}

const NO_FIELDS = Object.freeze({});

/** The active span's ids (ECS `trace.id`, `span.id`), when a traced call is running. */
function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (span === undefined) return NO_FIELDS;
  const context = span.spanContext();
  return isSpanContextValid(context) ? { "trace.id": context.traceId, "span.id": context.spanId } : NO_FIELDS;
}

/**
 * pino's timestamp hook, formatting `@timestamp` as ISO 8601 but at most once
 * per millisecond: at thousands of lines a second, `toISOString()` per line
 * showed up in profiles.
 */
function createIsoTimestamp(now: () => number = Date.now): () => string {
  let lastMs = -1;
  let last = "";
  return () => {
    const ms = now();
    if (ms !== lastMs) {
      lastMs = ms;
      last = `,"@timestamp":"${new Date(ms).toISOString()}"`;
    }
    return last;
  };
}
