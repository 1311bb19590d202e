import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { isRetryable } from "../errors/code.js";
import { RpcError } from "../errors/rpc-error.js";
import { abortedError, codeOf } from "../errors/to-rpc-error.js";
import { RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import type { Interceptor } from "../call/interceptor.js";
import { canAbort } from "../client/client-call.js";
import { backoffDelay, checkedBackoff, type BackoffOptions } from "../resilience/backoff.js";
import { createRetryBudget, type RetryBudget } from "../resilience/retry-budget.js";
import { createRetryStats, type RetryStats } from "../resilience/retry-stats.js";

/** Waits `ms`, or less when `signal` aborts (it may then resolve or reject). */
export type Sleep = (ms: number, signal: AbortSignal | undefined) => Promise<void>;

/** Options of {@link createRetryInterceptor}. */
export interface RetryInterceptorOptions {
  /** Attempts per call, the first included. @default 3 */
  readonly maxAttempts?: number;
  /** Delay before each retry, unless the server's RetryInfo says when. @default { initialMs: 50, maxMs: 1000, multiplier: 2 } */
  readonly backoff?: BackoffOptions;
  /** Which methods may be sent twice. @default {@link isIdempotentMethod} */
  readonly isIdempotent?: (method: DescMethod) => boolean;
  /** Caps retries across calls; share one per backend. @default a new {@link createRetryBudget} */
  readonly budget?: RetryBudget;
  /** Where attempts, retries and refusals are counted. @default a new {@link createRetryStats} */
  readonly stats?: RetryStats;
  /** Uniform in [0, 1), for jitter. @default Math.random */
  readonly random?: () => number;
  /** @default a timer, cut short by the signal */
  readonly sleep?: Sleep;
  /** For deadline checks. @default Date.now */
  readonly now?: () => number;
}

/**
 * Whether the proto declares the method safe to repeat:
 * `option idempotency_level = NO_SIDE_EFFECTS` or `IDEMPOTENT`.
 */
export function isIdempotentMethod(method: DescMethod): boolean {
  return (
    method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS ||
    method.idempotency === MethodOptions_IdempotencyLevel.IDEMPOTENT
  );
}

/**
 * Why the kit's own and not grpc-js' `retryPolicy` + `retryThrottling` (gRFC
 * A6): servers and rate limiters say when to come back with a
 * google.rpc.RetryInfo detail, which grpc-js does not read (it knows only the
 * `grpc-retry-pushback-ms` trailer), so it would retry a RESOURCE_EXHAUSTED
 * either never or too soon; and the budget must be observable (`snapshot()`)
 * and shared across a client's methods, which grpc-js' per-channel throttle
 * token count is not.
 *
 * Retries unary calls of idempotent methods that failed with a transient code,
 * after an exponential backoff with full jitter (or the server's RetryInfo
 * delay). It never retries what may have had an effect (other methods, request
 * streams, which cannot be replayed, response streams, which may have
 * delivered messages), never waits past the call's deadline (it gives up with
 * the last error instead), stops when the call is cancelled, and stops
 * retrying when the budget says the backend is failing broadly.
 */
export function createRetryInterceptor(options: RetryInterceptorOptions = {}): Interceptor {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const backoff = checkedBackoff(options.backoff, { initialMs: 50, maxMs: 1000 }, "retry.backoff");
  const isIdempotent = options.isIdempotent ?? isIdempotentMethod;
  const budget = options.budget ?? createRetryBudget();
  const stats = options.stats ?? createRetryStats();
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? sleepFor;
  const now = options.now ?? Date.now;

  return (next) => async (request) => {
    // A client-side link: server calls pass through.
    if (request.context.side !== "client") return next(request);
    if (request.stream || request.method.methodKind !== "unary" || !isIdempotent(request.method)) {
      stats.record("attempts");
      return next(request);
    }
    const { deadline } = request.context;
    const signal = canAbort(request.context.signal) ? request.context.signal : undefined;
    for (let attempt = 1; ; attempt++) {
      stats.record("attempts");
      if (attempt > 1) stats.record("retries");
      let lastError: unknown;
      try {
        const response = await next(request);
        budget.onSuccess();
        return response;
      } catch (error) {
        lastError = error;
      }
      const pushbackMs = retryDelayOf(lastError);
      if (!isRetryable(codeOf(lastError), pushbackMs !== undefined)) throw lastError;
      budget.onFailure();
      if (attempt >= maxAttempts) throw lastError;
      if (signal?.aborted) throw abortedError(signal, "call cancelled before a retry", lastError);
      if (!budget.allowRetry()) {
        stats.record("budgetExhausted");
        throw lastError;
      }
      const delayMs = pushbackMs ?? backoffDelay(attempt, backoff, random);
      // A retry that cannot finish before the deadline only adds load; the
      // caller learns more from the real error than from DEADLINE_EXCEEDED.
      if (deadline !== undefined && now() + delayMs >= deadline) throw lastError;
      try {
        await sleep(delayMs, signal);
      } catch {
        // A sleep cut short by the signal; the check below reports it.
      }
      if (signal?.aborted) throw abortedError(signal, "call cancelled before a retry", lastError);
    }
  };
}

/** The server's RetryInfo delay in milliseconds, if it sent one. */
function retryDelayOf(error: unknown): number | undefined {
  if (!(error instanceof RpcError)) return undefined;
  const delay = error.findDetail(RetryInfoSchema)?.retryDelay;
  return delay === undefined ? undefined : Number(delay.seconds) * 1000 + delay.nanos / 1e6;
}

function sleepFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
