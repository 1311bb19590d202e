import { pino, type Logger as PinoLogger, type DestinationStream } from "pino";
import { createCoalescingDestination } from "./coalescing-destination.js";

/** The kit's logger: pino, one JSON object per line. */
export type Logger = PinoLogger;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level: trace, debug, info, warn, error, fatal, silent. @default "info" */
  readonly level?: string;
  /** `service.name` on every line. @default "trellis" */
  readonly serviceName?: string;
  /**
   * Where lines go. @default stdout via createCoalescingDestination(): the
   * lines of one event-loop turn go out in one write at the end of the turn,
   * and pending lines are written on exit.
   */
  readonly destination?: DestinationStream;
}

/**
 * A pino logger whose lines use Elastic Common Schema field names
 * (`@timestamp`, `log.level`, `message`, `service.name`, `error.*`) so Filebeat
 * can ship them to Elasticsearch without an ingest pipeline.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      messageKey: "message",
      errorKey: "error",
      base: { "service.name": options.serviceName ?? "trellis", "ecs.version": "8.10.0" },
      timestamp: createIsoTimestamp(),
      formatters: {
        level: (label) => ({ "log.level": label }),
      },
      serializers: {
        error: (err: unknown) =>
          err instanceof Error
            ? { type: err.name, message: err.message, stack_trace: err.stack }
            : { message: String(err) },
      },
    },
    options.destination ?? createCoalescingDestination(),
  );
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
