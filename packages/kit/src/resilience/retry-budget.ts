/** Options of {@link createRetryBudget}. */
export interface RetryBudgetOptions {
  /** Tokens when full; retries stop at half of them. @default 10 */
  readonly maxTokens?: number;
  /** Tokens a success gives back; 0.1 lets about one retry through per ten successes. @default 0.1 */
  readonly tokenRatio?: number;
}

/** A budget's state, for metrics. */
export interface RetryBudgetSnapshot {
  readonly tokens: number;
  readonly maxTokens: number;
  /** Whether a retry would be allowed now. */
  readonly retriesAllowed: boolean;
}

/**
 * gRPC's retry throttling (gRFC A6 `retryThrottling`) for one client: failed
 * attempts spend tokens, successes earn a fraction back, and retries are allowed
 * only while more than half remain. When a backend fails every call the budget
 * drains after a few failures and the client falls back to one attempt per
 * call, so retries cannot multiply the load of an outage.
 */
export interface RetryBudget {
  /** An attempt failed with a retryable status: −1 token. */
  onFailure(): void;
  /** An attempt succeeded: +tokenRatio tokens. */
  onSuccess(): void;
  /** Whether another attempt may be made. */
  allowRetry(): boolean;
  snapshot(): RetryBudgetSnapshot;
}

/** A full budget. Share one per backend, as gRPC keeps one per channel. */
export function createRetryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  const maxTokens = options.maxTokens ?? 10;
  const tokenRatio = options.tokenRatio ?? 0.1;
  if (!(maxTokens > 0) || !Number.isFinite(maxTokens)) throw new RangeError(`maxTokens must be a positive number (got ${maxTokens})`);
  if (!(tokenRatio > 0)) throw new RangeError(`tokenRatio must be positive (got ${tokenRatio})`);
  let tokens = maxTokens;
  const allowRetry = (): boolean => tokens > maxTokens / 2;
  return {
    onFailure() {
      tokens = Math.max(0, tokens - 1);
    },
    onSuccess() {
      tokens = Math.min(maxTokens, tokens + tokenRatio);
    },
    allowRetry,
    snapshot: () => ({ tokens, maxTokens, retriesAllowed: allowRetry() }),
  };
}
