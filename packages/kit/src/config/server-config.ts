import { defaultServerLimits, type ServerLimits } from "../server/server-limits.js";
import { integer, oneOf, port, readConfig, text, type Env, type EnvReader } from "./env.js";

/** The log levels LOG_LEVEL accepts. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** The variable that sets each server limit, and the largest value it takes (0 is allowed unless said). */
export const LIMIT_VARIABLES: {
  readonly [K in keyof ServerLimits]: { readonly name: string; readonly min?: number; readonly max: number };
} = {
  maxConnections: { name: "GRPC_MAX_CONNECTIONS", max: 1_000_000 },
  maxConnectionsPerAddress: { name: "GRPC_MAX_CONNECTIONS_PER_ADDRESS", max: 1_000_000 },
  prefaceTimeoutMs: { name: "GRPC_PREFACE_TIMEOUT_MS", max: 600_000 },
  maxConcurrentStreams: { name: "GRPC_MAX_CONCURRENT_STREAMS", min: 1, max: 2_147_483_647 },
  maxConcurrentCalls: { name: "GRPC_MAX_CONCURRENT_CALLS", max: 10_000_000 },
  requestTimeoutMs: { name: "GRPC_REQUEST_TIMEOUT_MS", max: 3_600_000 },
  maxResetsPerWindow: { name: "GRPC_MAX_RESETS_PER_WINDOW", max: 10_000_000 },
  resetWindowMs: { name: "GRPC_RESET_WINDOW_MS", min: 1, max: 3_600_000 },
  keepaliveTimeMs: { name: "GRPC_KEEPALIVE_TIME_MS", max: 86_400_000 },
  keepaliveTimeoutMs: { name: "GRPC_KEEPALIVE_TIMEOUT_MS", min: 1, max: 3_600_000 },
  minPingIntervalMs: { name: "GRPC_MIN_PING_INTERVAL_MS", max: 86_400_000 },
  idleTimeoutMs: { name: "GRPC_IDLE_TIMEOUT_MS", max: 86_400_000 },
  maxConnectionAgeMs: { name: "GRPC_MAX_CONNECTION_AGE_MS", max: 2_592_000_000 },
  maxConnectionAgeGraceMs: { name: "GRPC_MAX_CONNECTION_AGE_GRACE_MS", max: 86_400_000 },
  maxWriteStallMs: { name: "GRPC_MAX_WRITE_STALL_MS", max: 3_600_000 },
};

/** Reads the server limits from their GRPC_* variables; unset ones keep their defaults. */
export function readServerLimits(env: Env = process.env, defaults: ServerLimits = defaultServerLimits()): ServerLimits {
  const spec = Object.fromEntries(
    Object.entries(LIMIT_VARIABLES).map(([key, v]) => [
      v.name,
      integer({ default: defaults[key as keyof ServerLimits], min: v.min ?? 0, max: v.max }),
    ]),
  ) as Record<string, EnvReader<number>>;
  const values = readConfig(spec, env);
  return Object.fromEntries(Object.entries(LIMIT_VARIABLES).map(([key, v]) => [key, values[v.name]])) as unknown as ServerLimits;
}

/** The environment every Trellis server reads, with the service's own default ports. */
export function readServerConfig(defaults: { readonly grpcPort: number; readonly adminPort: number }, env: Env = process.env) {
  const limits = readServerLimits(env);
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
    limits,
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
    limits: config.limits,
  } as const;
}
