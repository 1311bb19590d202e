import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
  type RateLimiterStoreAbstract,
} from "rate-limiter-flexible";
import type { Redis } from "ioredis";

/** `points` calls per `windowS` seconds (a fixed window, as rate-limiter-flexible counts). */
export interface RateLimit {
  readonly points: number;
  readonly windowS: number;
}

/** What happens to calls while the shared store (Redis) cannot be asked: let them through, or refuse them. */
export type FailMode = "open" | "closed";

/** One call's verdict. */
export type RateDecision =
  | { readonly outcome: "allowed"; readonly remaining: number }
  | { readonly outcome: "limited"; readonly retryAfterMs: number }
  /** The store failed (or was too slow): `allowed` says what the fail mode chose. */
  | { readonly outcome: "store_failed"; readonly allowed: boolean; readonly error: unknown };

/** Counts calls per key against one limit. */
export interface RateLimiter {
  readonly limit: RateLimit;
  /** Takes one call for `key`. Never rejects: a store failure is a decision too. */
  take(key: string): Promise<RateDecision>;
}

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  readonly limit: RateLimit;
  /**
   * Count in this Redis (an ioredis client), so that every instance sharing it
   * shares the limit. Create the client with `enableOfflineQueue: false`: a
   * call must not wait for a reconnection. @default counted in this process
   */
  readonly redis?: Redis;
  /** Prefix of the Redis keys (and of the local ones). @default "trellis:rl" */
  readonly keyPrefix?: string;
  /** @default "open" */
  readonly failMode?: FailMode;
  /** How long a Redis answer may take before the fail mode decides. @default 250 */
  readonly timeoutMs?: number;
}

/**
 * A rate limiter on rate-limiter-flexible: in memory by default, in Redis
 * when given a client (an atomic INCR + expiry in one Lua call per take).
 * A call over the limit learns how long until its window ends. When Redis is
 * down, not ready, or slower than `timeoutMs`, the fail mode decides:
 * "open" lets the call through (the limit is not enforced meanwhile),
 * "closed" refuses it.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { limit } = options;
  if (!Number.isInteger(limit.points) || limit.points < 1)
    throw new RangeError(`a rate limit needs at least 1 call per window (got ${limit.points})`);
  if (!Number.isInteger(limit.windowS) || limit.windowS < 1)
    throw new RangeError(`a rate limit's window is a whole number of seconds (got ${limit.windowS})`);
  const keyPrefix = options.keyPrefix ?? "trellis:rl";
  const failMode = options.failMode ?? "open";
  const timeoutMs = options.timeoutMs ?? 250;
  const common = { points: limit.points, duration: limit.windowS, keyPrefix };
  const store: RateLimiterAbstract | RateLimiterStoreAbstract =
    options.redis === undefined
      ? new RateLimiterMemory(common)
      : new RateLimiterRedis({ ...common, storeClient: options.redis, rejectIfRedisNotReady: true });
  const local = options.redis === undefined;
  return {
    limit,
    async take(key) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const consumed = store.consume(key, 1);
        const result = local
          ? await consumed
          : await Promise.race([
              consumed,
              new Promise<never>((_, reject) => {
                timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
              }),
            ]);
        return { outcome: "allowed", remaining: result.remainingPoints };
      } catch (rejection) {
        // rate-limiter-flexible rejects with a RateLimiterRes when over the limit, with an Error when its store failed.
        if (rejection instanceof RateLimiterRes)
          return { outcome: "limited", retryAfterMs: Math.max(1, Math.ceil(rejection.msBeforeNext)) };
        return { outcome: "store_failed", allowed: failMode === "open", error: rejection };
      } finally {
        if (timer !== undefined) clearTimeout(timer);
      }
    },
  };
}

/**
 * Parses `<calls>/<window>`: `100/s`, `20/10s`, `600/m`, `5000/h`
 * (`s`, `m`, `h` with an optional whole count). Throws a RangeError naming
 * what is wrong.
 */
export function parseRateLimit(text: string): RateLimit {
  const match = /^(\d{1,9})\/(\d{0,6})(s|m|h)$/.exec(text.trim());
  if (match === null) throw new RangeError(`"${text}" is not a rate such as 100/s, 20/10s, 600/m or 5000/h`);
  const points = Number(match[1]);
  const count = match[2] === "" ? 1 : Number(match[2]);
  const windowS = count * (match[3] === "h" ? 3600 : match[3] === "m" ? 60 : 1);
  if (points < 1 || windowS < 1) throw new RangeError(`"${text}" allows no call: calls and window must be at least 1`);
  return { points, windowS };
}
