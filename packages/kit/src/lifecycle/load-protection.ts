import type { DescMethod } from "@bufbuild/protobuf";
import { Redis } from "ioredis";
import { Counter, Gauge } from "prom-client";
import type { Interceptor } from "../call/interceptor.js";
import { methodName } from "../call/method-name.js";
import type { RateLimitConfig, SheddingConfig } from "../config/load-config.js";
import { createRateLimitInterceptor } from "../interceptors/rate-limit.js";
import type { MetricsRegistry } from "../observability/grpc-metrics.js";
import type { Logger } from "../observability/logger.js";
import { createLoadShedder, type LoadShedder } from "../resilience/load-shedder.js";
import { createEventLoopSignal, type LoadSignal } from "../resilience/load-signal.js";
import { createRateLimiter, type RateLimit, type RateLimiter } from "../resilience/rate-limiter.js";
import type { ServerShedding } from "../server/create-server.js";

/** A service's rate limits and load shedding, as runService sets them up. */
export interface LoadProtection {
  /** The rate-limit link of the server chain (after authentication), when limits are configured. */
  readonly rateLimit: Interceptor | undefined;
  /** The server's shedding, when on. */
  readonly shedding: ServerShedding | undefined;
  /** For the "listening" line. */
  readonly describe: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

/** Options of {@link startLoadProtection}. */
export interface LoadProtectionOptions {
  readonly logger: Logger;
  readonly metrics: MetricsRegistry | undefined;
  /** The overload signal. @default createEventLoopSignal() */
  readonly signal?: LoadSignal;
  /** For the throttled log lines. @default Date.now */
  readonly now?: () => number;
}

/** At most one log line of each kind per this long: a flood of refusals must not become a flood of lines. */
const LOG_EVERY_MS = 10_000;

/**
 * Builds the rate limiters (in memory, or in Redis when configured: one
 * connection, commands never queued while it is down) and the load shedder,
 * with their metrics — `trellis_rate_limited_total{grpc_service,grpc_method,reason}`,
 * `trellis_rate_limit_store_failures_total{decision}`,
 * `trellis_shed_total{grpc_service,grpc_method}`, `trellis_shedder_in_flight`,
 * `trellis_shedder_limit` — and throttled log
 * lines: refused calls are on the access log already (RESOURCE_EXHAUSTED);
 * shed calls never reach it, so a summary line says how many were shed.
 */
export function startLoadProtection(
  rate: RateLimitConfig | false,
  shed: SheddingConfig | false,
  options: LoadProtectionOptions,
): LoadProtection {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const metrics = options.metrics === undefined ? undefined : createLoadMetrics(options.metrics);
  const closers: (() => Promise<void> | void)[] = [];
  const describe: Record<string, string> = {};

  let rateLimit: Interceptor | undefined;
  if (rate !== false) {
    let redis: Redis | undefined;
    if (rate.redisUrl !== undefined) {
      const client = new Redis(rate.redisUrl, {
        // A call must never wait for a reconnection: with the connection down, commands fail at once and the fail mode decides.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        // Nor be sent again after a reconnection: it would count a call twice, in a later window.
        autoResendUnfulfilledCommands: false,
        connectTimeout: 2000,
        retryStrategy: (times) => Math.min(100 * times, 2000),
      });
      let lastError = Number.NEGATIVE_INFINITY;
      client.on("error", (error: Error) => {
        if (now() - lastError < LOG_EVERY_MS) return;
        lastError = now();
        logger.warn(
          { "event.action": "rate-limit-store", error: { message: error.message } },
          `rate limits: Redis unavailable (${error.message}); calls are ${rate.failMode === "open" ? "let through unlimited" : "refused"} meanwhile`,
        );
      });
      client.on("ready", () =>
        logger.info({ "event.action": "rate-limit-store", "event.outcome": "success" }, "rate limits: Redis connected"),
      );
      closers.push(() => void client.disconnect());
      redis = client;
    }
    const limiters = new Map<string, RateLimiter>();
    const limiterOf = (limit: RateLimit): RateLimiter => {
      const id = `${limit.points}/${limit.windowS}`;
      let limiter = limiters.get(id);
      if (limiter === undefined) {
        limiter = createRateLimiter({
          limit,
          failMode: rate.failMode,
          timeoutMs: rate.timeoutMs,
          keyPrefix: `trellis:rl:${id}`,
          ...(redis === undefined ? {} : { redis }),
        });
        limiters.set(id, limiter);
      }
      return limiter;
    };
    const byMethod = new Map<DescMethod, RateLimiter | undefined>();
    let storeFailures = 0;
    let storeLoggedAt = Number.NEGATIVE_INFINITY;
    rateLimit = createRateLimitInterceptor({
      limiterFor: (method) => {
        if (byMethod.has(method)) return byMethod.get(method);
        const own = rate.methods.get(methodName(method));
        const limiter =
          own === "off" ? undefined : own !== undefined ? limiterOf(own) : rate.limit === undefined ? undefined : limiterOf(rate.limit);
        byMethod.set(method, limiter);
        return limiter;
      },
      onRefused: (method, reason) => metrics?.rateLimited.inc({ grpc_service: method.parent.typeName, grpc_method: method.name, reason }),
      onStoreFailure: (error, allowed) => {
        metrics?.storeFailures.inc({ decision: allowed ? "allowed" : "refused" });
        storeFailures += 1;
        if (now() - storeLoggedAt < LOG_EVERY_MS) return;
        storeLoggedAt = now();
        logger.warn(
          {
            "event.action": "rate-limit-store",
            "event.outcome": "failure",
            "trellis.rate_limit.store_failures": storeFailures,
            error: { message: String((error as Error)?.message ?? error) },
          },
          `rate limits could not be checked (${storeFailures} calls so far); fail mode ${rate.failMode}: calls ${allowed ? "let through" : "refused with UNAVAILABLE"}`,
        );
      },
    });
    describe["rate_limit"] =
      `${rate.limit === undefined ? "per method" : `${rate.limit.points}/${rate.limit.windowS}s per caller and method`}, ${redis === undefined ? "local" : `shared in Redis, fail ${rate.failMode}`}`;
  }

  let shedding: ServerShedding | undefined;
  if (shed !== false) {
    const signal = options.signal ?? createEventLoopSignal();
    closers.push(() => signal.close());
    const shedder = createLoadShedder({ signal, utilizationThreshold: shed.utilizationThreshold, delayThresholdMs: shed.delayThresholdMs });
    if (metrics !== undefined) metrics.watch(shedder);
    let shedSinceLog = 0;
    let shedLoggedAt = Number.NEGATIVE_INFINITY;
    shedding = {
      shedder,
      retryAfterMs: shed.retryAfterMs,
      onShed: (path) => {
        const [service = "unknown", method = "unknown"] = path.slice(1).split("/");
        metrics?.shed.inc({ grpc_service: service, grpc_method: method });
        shedSinceLog += 1;
        if (now() - shedLoggedAt < 1000) return;
        shedLoggedAt = now();
        const s = shedder.snapshot();
        logger.warn(
          {
            "event.action": "load-shed",
            "trellis.shed.calls": shedSinceLog,
            "trellis.shed.in_flight": s.inFlight,
            "trellis.shed.limit": Number.isFinite(s.limit) ? Math.round(s.limit) : null,
            "nodejs.eventloop.utilization": Math.round(s.reading.utilization * 1000) / 1000,
            "nodejs.eventloop.delay_p99_ms": Math.round(s.reading.delayMs * 10) / 10,
          },
          `overloaded: shed ${shedSinceLog} call(s) with UNAVAILABLE since the last such line`,
        );
        shedSinceLog = 0;
      },
    };
    describe["shedding"] =
      `on (event-loop utilisation ≥ ${Math.round(shed.utilizationThreshold * 100)} % or delay ≥ ${shed.delayThresholdMs} ms)`;
  }

  return {
    rateLimit,
    shedding,
    describe,
    close: async () => {
      for (const close of closers.reverse()) await close();
    },
  };
}

interface LoadMetrics {
  readonly rateLimited: Counter<"grpc_service" | "grpc_method" | "reason">;
  readonly storeFailures: Counter<"decision">;
  readonly shed: Counter<"grpc_service" | "grpc_method">;
  watch(shedder: LoadShedder): void;
}

function createLoadMetrics(registry: MetricsRegistry): LoadMetrics {
  const shedders: LoadShedder[] = [];
  const gauge = (name: string, help: string, read: (shedder: LoadShedder) => number): void =>
    void new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const shedder = shedders[0];
        if (shedder !== undefined) this.set(read(shedder));
      },
    });
  gauge(
    "trellis_shedder_in_flight",
    "Calls in flight as the load shedder counts them (unary and client-streaming calls admitted and not yet ended).",
    (s) => s.snapshot().inFlight,
  );
  gauge(
    "trellis_shedder_limit",
    "Calls in flight past which new ones are shed; 0 while the event loop is not overloaded (no limit).",
    (s) => {
      const { limit } = s.snapshot();
      return Number.isFinite(limit) ? limit : 0;
    },
  );
  return {
    rateLimited: new Counter({
      name: "trellis_rate_limited_total",
      help: "Calls refused by a rate limit, by method and reason (exceeded: RESOURCE_EXHAUSTED; store_unavailable: Redis down with fail mode closed, UNAVAILABLE).",
      labelNames: ["grpc_service", "grpc_method", "reason"],
      registers: [registry],
    }),
    storeFailures: new Counter({
      name: "trellis_rate_limit_store_failures_total",
      help: "Rate-limit checks the shared store (Redis) could not answer in time, by what the fail mode decided (allowed, refused).",
      labelNames: ["decision"],
      registers: [registry],
    }),
    shed: new Counter({
      name: "trellis_shed_total",
      help: "Calls shed under overload (UNAVAILABLE with RetryInfo before any decoding or handler), by method.",
      labelNames: ["grpc_service", "grpc_method"],
      registers: [registry],
    }),
    watch: (shedder) => void shedders.push(shedder),
  };
}
