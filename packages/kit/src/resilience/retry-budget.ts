/** Options of {@link createRetryBudget}. */
export interface RetryBudgetOptions {
  /** Tokens when full; retries stop at half of them. @default 10 */
  readonly maxTokens?: number;
  /** Tokens a success gives back; 0.1 lets about one retry through per ten successes. @default 0.1 */
  readonly tokenRatio?: number;
  /**
   * Retries allowed in any one second even when the tokens are spent (Finagle's
   * `minRetriesPerSec`): an instance that dies fails every call it had in flight at
   * once, and with more of them than half the tokens the rest would fail although
   * the other instances are fine; a real outage still gets at most this many extra
   * attempts a second. 0 turns it off (gRPC's throttling alone). @default 10
   */
  readonly minRetriesPerSecond?: number;
  /** The clock of the per-second reserve, in milliseconds. @default Date.now */
  readonly now?: () => number;
}

/** A budget's state, for metrics. */
export interface RetryBudgetSnapshot {
  readonly tokens: number;
  readonly maxTokens: number;
  /** Whether a retry would be allowed now. */
  readonly retriesAllowed: boolean;
  /** Retries still allowed this second by the reserve, whatever the tokens. */
  readonly reserveLeft: number;
}

/**
 * gRPC's retry throttling (gRFC A6 `retryThrottling`) for one client: failed
 * attempts spend tokens, successes earn a fraction back, and retries are allowed
 * only while more than half remain. When a backend fails every call the budget
 * drains after a few failures and the client falls back to one attempt per
 * call (plus a small reserve of retries per second, for the burst of failures
 * one dying instance causes), so retries cannot multiply the load of an outage.
 */
export interface RetryBudget {
  /** An attempt failed with a retryable status: −1 token. */
  onFailure(): void;
  /** An attempt succeeded: +tokenRatio tokens. */
  onSuccess(): void;
  /** Whether another attempt may be made; a yes from the reserve spends one of its retries. */
  allowRetry(): boolean;
  snapshot(): RetryBudgetSnapshot;
}

/** A full budget. Share one per backend, as gRPC keeps one per channel. */
export function createRetryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  const maxTokens = options.maxTokens ?? 10;
  const tokenRatio = options.tokenRatio ?? 0.1;
  if (!(maxTokens > 0) || !Number.isFinite(maxTokens)) throw new RangeError(`maxTokens must be a positive number (got ${maxTokens})`);
  if (!(tokenRatio > 0)) throw new RangeError(`tokenRatio must be positive (got ${tokenRatio})`);
  const minRetriesPerSecond = options.minRetriesPerSecond ?? 10;
  if (!(minRetriesPerSecond >= 0) || !Number.isInteger(minRetriesPerSecond)) {
    throw new RangeError(`minRetriesPerSecond must be a whole number ≥ 0 (got ${minRetriesPerSecond})`);
  }
  const now = options.now ?? Date.now;
  let tokens = maxTokens;
  // The reserve: retries granted in the current one-second window.
  let windowStart = Number.NEGATIVE_INFINITY;
  let reserveUsed = 0;
  const reserveLeft = (): number => (now() - windowStart >= 1000 ? minRetriesPerSecond : minRetriesPerSecond - reserveUsed);
  const allowRetry = (): boolean => {
    if (tokens > maxTokens / 2) return true;
    if (reserveLeft() <= 0) return false;
    const at = now();
    if (at - windowStart >= 1000) {
      windowStart = at;
      reserveUsed = 0;
    }
    reserveUsed += 1;
    return true;
  };
  return {
    onFailure() {
      tokens = Math.max(0, tokens - 1);
    },
    onSuccess() {
      tokens = Math.min(maxTokens, tokens + tokenRatio);
    },
    allowRetry,
    snapshot: () => ({ tokens, maxTokens, retriesAllowed: tokens > maxTokens / 2 || reserveLeft() > 0, reserveLeft: reserveLeft() }),
  };
}
