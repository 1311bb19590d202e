import { integer, oneOf, port, readConfig, text, type Env } from "./env.js";

/** The log levels LOG_LEVEL accepts. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** The environment every Trellis server reads, with the service's own default ports. */
export function readServerConfig(defaults: { readonly grpcPort: number; readonly adminPort: number }, env: Env = process.env) {
  const config = readConfig(
    {
      GRPC_HOST: text({ default: "0.0.0.0", pattern: /^[\w.:-]+$/, expected: "a host name or IP address" }),
      GRPC_PORT: port(defaults.grpcPort),
      ADMIN_PORT: port(defaults.adminPort),
      LOG_LEVEL: oneOf(LOG_LEVELS, "info"),
      SHUTDOWN_DELAY_MS: integer({ default: 0, min: 0, max: 600_000 }),
      SHUTDOWN_GRACE_MS: integer({ default: 10_000, min: 0, max: 600_000 }),
      GRPC_MAX_MESSAGE_BYTES: integer({ default: 4 * 1024 * 1024, min: 1024, max: 512 * 1024 * 1024 }),
      GRPC_MAX_CALL_MS: integer({ default: 30_000, min: 0, max: 3_600_000 }),
    },
    env,
  );
  return {
    host: config.GRPC_HOST,
    grpcPort: config.GRPC_PORT,
    adminPort: config.ADMIN_PORT,
    logLevel: config.LOG_LEVEL,
    shutdownDelayMs: config.SHUTDOWN_DELAY_MS,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    maxMessageBytes: config.GRPC_MAX_MESSAGE_BYTES,
    maxCallMs: config.GRPC_MAX_CALL_MS,
  } as const;
}

/** What {@link readServerConfig} returns. */
export type ServerConfig = ReturnType<typeof readServerConfig>;

/** The createServer options a ServerConfig sets (everything but the logger and the chain). */
export function serverOptionsFrom(config: ServerConfig) {
  return {
    maxReceiveMessageBytes: config.maxMessageBytes,
    maxSendMessageBytes: config.maxMessageBytes,
    shutdownDelayMs: config.shutdownDelayMs,
    shutdownGraceMs: config.shutdownGraceMs,
    maxCallMs: config.maxCallMs,
  } as const;
}
