import type { DescMethod } from "@bufbuild/protobuf";
import type { CallContext } from "../call/call-context.js";
import type { Interceptor } from "../call/interceptor.js";
import { methodName } from "../call/method-name.js";
import { errorInfo, retryInfo } from "../errors/error-details.js";
import { Code, RpcError } from "../errors/rpc-error.js";
import type { RateLimiter } from "../resilience/rate-limiter.js";
import { principalKey } from "../security/principal.js";
import { peerIdentityKey } from "../security/spiffe-id.js";

/** Why a call was refused by a rate limit: over it, or its store failed with fail mode "closed". */
export type RateLimitRefusal = "exceeded" | "store_unavailable";

/** Options of {@link createRateLimitInterceptor}. */
export interface RateLimitInterceptorOptions {
  /** The limiter for a method's calls, or undefined when the method is not limited. */
  readonly limiterFor: (method: DescMethod) => RateLimiter | undefined;
  /** Told of each refused call (metrics). @default none */
  readonly onRefused?: (method: DescMethod, reason: RateLimitRefusal) => void;
  /** Told of each store failure, whatever the fail mode decided (metrics, a throttled log line). @default none */
  readonly onStoreFailure?: (error: unknown, allowed: boolean) => void;
  /** How long a client is told to wait when the store is down and calls are refused. @default 1000 */
  readonly unavailableRetryMs?: number;
}

/**
 * Who a call is counted against: its verified end user (`user:<sub>`), else
 * its mTLS peer (`peer:<SPIFFE ID>`), else its network address
 * (`addr:<ip>`, the port dropped: one client's connections share a budget).
 */
export function callerKey(context: Pick<CallContext, "values" | "peer">): string {
  const principal = context.values.get(principalKey);
  if (principal !== undefined) return `user:${principal.issuer}|${principal.subject}`;
  const peer = context.values.get(peerIdentityKey);
  if (peer !== undefined) return `peer:${peer.spiffeId}`;
  return `addr:${hostOf(context.peer)}`;
}

/** `1.2.3.4:5678` → `1.2.3.4`, `[::1]:5678` → `::1`; anything else as it is. */
function hostOf(peer: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(peer);
  if (bracketed !== null) return bracketed[1]!;
  const v4 = /^([^:]+):\d+$/.exec(peer);
  return v4 !== null ? v4[1]! : peer;
}

/**
 * Limits each caller's calls per method (server side; client calls pass).
 * Over the limit: RESOURCE_EXHAUSTED with google.rpc.RetryInfo saying when
 * the caller's window ends (the kit's client waits that long before its
 * retry) and ErrorInfo RATE_LIMITED. With the store down and fail mode
 * "closed": UNAVAILABLE with RetryInfo. The message names the method only:
 * nothing of the limit's size or other callers' use. Runs after
 * authentication (a verified user is counted as themself, not as their
 * address) and before authorization and validation.
 */
export function createRateLimitInterceptor(options: RateLimitInterceptorOptions): Interceptor {
  const unavailableRetryMs = options.unavailableRetryMs ?? 1000;
  return (next) => async (request) => {
    const { context, method } = request;
    if (context.side !== "server") return next(request);
    const limiter = options.limiterFor(method);
    if (limiter === undefined) return next(request);
    const path = methodName(method);
    const decision = await limiter.take(`${path}|${callerKey(context)}`);
    if (decision.outcome === "allowed") return next(request);
    if (decision.outcome === "store_failed") {
      options.onStoreFailure?.(decision.error, decision.allowed);
      if (decision.allowed) return next(request);
      options.onRefused?.(method, "store_unavailable");
      throw new RpcError(Code.UNAVAILABLE, `rate limits cannot be checked right now; retry ${path} later`, {
        details: [retryInfo(unavailableRetryMs)],
      });
    }
    options.onRefused?.(method, "exceeded");
    throw new RpcError(Code.RESOURCE_EXHAUSTED, `rate limit exceeded for ${path}; retry in ${decision.retryAfterMs} ms`, {
      details: [retryInfo(decision.retryAfterMs), errorInfo("RATE_LIMITED", "trellis.dev", { method: path })],
    });
  };
}
