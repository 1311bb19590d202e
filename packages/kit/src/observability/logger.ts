import { pino, type Logger as PinoLogger, type DestinationStream } from "pino";

/** The kit's logger: pino, one JSON object per line. */
export type Logger = PinoLogger;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level: trace, debug, info, warn, error, fatal, silent. @default "info" */
  readonly level?: string;
  /** `service.name` on every line. @default "trellis" */
  readonly serviceName?: string;
  /** Where lines go. @default stdout */
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
      timestamp: () => `,"@timestamp":"${new Date().toISOString()}"`,
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
    options.destination,
  );
}
