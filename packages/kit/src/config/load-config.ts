import { parseRateLimit, type FailMode, type RateLimit } from "../resilience/rate-limiter.js";
import { ConfigError, integer, oneOf, optionalUrl, readConfig, text, type Env } from "./env.js";

/** Rate limiting, as configured (off: `false`). */
export interface RateLimitConfig {
  /** The limit of every method without one of its own; undefined: only the listed methods are limited. */
  readonly limit: RateLimit | undefined;
  /** Per-method limits by `package.Service/Method`; "off" exempts a method from the default. */
  readonly methods: ReadonlyMap<string, RateLimit | "off">;
  /** Redis to share counts through (`redis://[:password@]host:port[/db]`); undefined: each process counts alone. */
  readonly redisUrl: string | undefined;
  readonly failMode: FailMode;
  readonly timeoutMs: number;
}

/** Load shedding, as configured (off: `false`). */
export interface SheddingConfig {
  readonly utilizationThreshold: number;
  readonly delayThresholdMs: number;
  /** The RetryInfo delay shed calls are given. */
  readonly retryAfterMs: number;
}

/**
 * Reads the rate-limit variables. Off unless `TRELLIS_RATE_LIMIT` (every
 * method, per caller: `100/s`, `20/10s`, `600/m`, `5000/h`) or
 * `TRELLIS_RATE_LIMIT_METHODS` (`pkg.Service/Method=5/m,...`, `=off` to
 * exempt one) is set. `TRELLIS_RATE_LIMIT_REDIS` shares the counts across
 * instances; `TRELLIS_RATE_LIMIT_FAIL` (open | closed, default open) says
 * what happens to calls while Redis cannot be asked within
 * `TRELLIS_RATE_LIMIT_TIMEOUT_MS` (default 250).
 */
export function readRateLimitConfig(env: Env = process.env): RateLimitConfig | false {
  const c = readConfig(
    {
      TRELLIS_RATE_LIMIT: text({
        default: "",
        pattern: /^(\d{1,9}\/\d{0,6}[smh]|off)$/,
        expected: "a rate such as 100/s, 20/10s, 600/m or 5000/h",
      }),
      TRELLIS_RATE_LIMIT_METHODS: text({
        default: "",
        pattern: /^[\w.]+\/\w+=(\d{1,9}\/\d{0,6}[smh]|off)(,[\w.]+\/\w+=(\d{1,9}\/\d{0,6}[smh]|off))*$/,
        expected: "a list such as trellis.user.v1.UserService/CreateUser=10/m,trellis.user.v1.UserService/GetUser=off",
      }),
      TRELLIS_RATE_LIMIT_REDIS: optionalUrl(["redis", "rediss"]),
      TRELLIS_RATE_LIMIT_FAIL: oneOf(["open", "closed"] as const, "open"),
      TRELLIS_RATE_LIMIT_TIMEOUT_MS: integer({ default: 250, min: 10, max: 10_000 }),
    },
    env,
  );
  const limit =
    c.TRELLIS_RATE_LIMIT === "" || c.TRELLIS_RATE_LIMIT === "off" ? undefined : rate("TRELLIS_RATE_LIMIT", c.TRELLIS_RATE_LIMIT);
  const methods = new Map<string, RateLimit | "off">();
  for (const entry of c.TRELLIS_RATE_LIMIT_METHODS === "" ? [] : c.TRELLIS_RATE_LIMIT_METHODS.split(",")) {
    const [method, value] = entry.split("=") as [string, string];
    methods.set(method, value === "off" ? "off" : rate("TRELLIS_RATE_LIMIT_METHODS", value));
  }
  const on = limit !== undefined || [...methods.values()].some((m) => m !== "off");
  if (!on) {
    for (const name of ["TRELLIS_RATE_LIMIT_REDIS", "TRELLIS_RATE_LIMIT_FAIL"] as const) {
      if (env[name] !== undefined && env[name]!.trim() !== "")
        throw new ConfigError(name, `${name} has no effect without TRELLIS_RATE_LIMIT or TRELLIS_RATE_LIMIT_METHODS`);
    }
    return false;
  }
  return {
    limit,
    methods,
    redisUrl: c.TRELLIS_RATE_LIMIT_REDIS,
    failMode: c.TRELLIS_RATE_LIMIT_FAIL,
    timeoutMs: c.TRELLIS_RATE_LIMIT_TIMEOUT_MS,
  };
}

/**
 * Reads the load-shedding variables: `TRELLIS_SHED` (on | off, default off),
 * `TRELLIS_SHED_ELU` (event-loop utilisation counted as overload, percent,
 * default 95), `TRELLIS_SHED_DELAY_MS` (event-loop delay p99 counted as
 * overload, default 50) and `TRELLIS_SHED_RETRY_MS` (the RetryInfo delay
 * shed calls are given, default 1000).
 */
export function readSheddingConfig(env: Env = process.env): SheddingConfig | false {
  const c = readConfig(
    {
      TRELLIS_SHED: oneOf(["on", "off"] as const, "off"),
      TRELLIS_SHED_ELU: integer({ default: 95, min: 1, max: 100 }),
      TRELLIS_SHED_DELAY_MS: integer({ default: 50, min: 1, max: 10_000 }),
      TRELLIS_SHED_RETRY_MS: integer({ default: 1000, min: 1, max: 600_000 }),
    },
    env,
  );
  if (c.TRELLIS_SHED === "off") return false;
  return {
    utilizationThreshold: c.TRELLIS_SHED_ELU / 100,
    delayThresholdMs: c.TRELLIS_SHED_DELAY_MS,
    retryAfterMs: c.TRELLIS_SHED_RETRY_MS,
  };
}

function rate(variable: string, text: string): RateLimit {
  try {
    return parseRateLimit(text);
  } catch (error) {
    throw new ConfigError(variable, `${variable}: ${(error as Error).message}`);
  }
}
