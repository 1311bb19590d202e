import { createRollingWindow, type WindowTotals } from "./rolling-window.js";

/** Options of {@link createBreaker}. */
export interface BreakerOptions {
  /**
   * How many requests per accepted one the client may send while the backend
   * struggles (Google SRE's K): lower drops earlier.
   * @default 1.5
   */
  readonly k?: number;
  /** The K used after a long run of failing buckets (go-zero's minK). @default 1.1 */
  readonly minK?: number;
  /** Length of the rolling window the ratio is computed over. @default 10_000 */
  readonly windowMs?: number;
  /** Number of slices the window expires in. @default 40 */
  readonly buckets?: number;
  /** Requests in the window that are never dropped, so a quiet client is not throttled by a few failures. @default 5 */
  readonly minRequests?: number;
  /** While throttling, let one call through when none has passed for this long, to notice recovery. @default 1000 */
  readonly forcePassMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Uniform in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/**
 * A granted call. Settle it exactly once, when the outcome is known: `accept`
 * when the backend handled the call (whatever the business answer), `reject`
 * when it failed in a way that says it is unhealthy. Later calls are ignored,
 * so a double settle cannot skew the counts.
 */
export interface BreakerPermit {
  accept(): void;
  reject(): void;
}

/** A breaker's state, for metrics and admin pages. */
export interface BreakerSnapshot {
  /** Calls in the window: accepted, rejected and dropped. */
  readonly requests: number;
  /** Calls the backend handled. */
  readonly accepts: number;
  /** Calls that failed with a failure code. */
  readonly failures: number;
  /** Calls the breaker refused, in the window. */
  readonly drops: number;
  /** Calls the breaker refused since it was created: only grows (what a counter exports). */
  readonly totalDrops: number;
  /** The probability that the next call is dropped. */
  readonly dropRatio: number;
  readonly state: "closed" | "throttling";
}

/** Google SRE adaptive throttling for one backend (or one method of it). */
export interface Breaker {
  /**
   * Asks to make a call: a permit to settle, or `undefined` when the call must
   * fail fast without being sent (the drop is already counted).
   */
  allow(): BreakerPermit | undefined;
  snapshot(): BreakerSnapshot;
}

/**
 * Client-side adaptive throttling (SRE book, "Handling Overload"), as go-zero
 * does it: calls are dropped with probability
 * `max(0, (requests − minRequests − K·accepts) / (requests + 1))` over a rolling
 * window, where requests include drops. Unlike an open/closed breaker it sheds
 * only the excess: a backend that handles half the calls still gets about
 * K times what it handles. go-zero's refinements are kept because plain SRE
 * recovers slowly (the drops in the window hold the ratio up long after the
 * backend heals): K shrinks towards `minK` over a run of failing buckets, the
 * ratio shrinks with each newest bucket that only saw successes, and a call is
 * let through at least every `forcePassMs`.
 */
export function createBreaker(options: BreakerOptions = {}): Breaker {
  const k = options.k ?? 1.5;
  const minK = Math.min(options.minK ?? 1.1, k);
  const buckets = options.buckets ?? 40;
  const minRequests = options.minRequests ?? 5;
  const forcePassMs = options.forcePassMs ?? 1000;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const window = createRollingWindow({ windowMs: options.windowMs ?? 10_000, buckets, now });
  let lastPass: number | undefined;
  let totalDrops = 0;

  const dropRatioOf = (t: WindowTotals): number => {
    const weight = Math.max(minK, k - ((k - minK) * t.failingBuckets) / buckets);
    const ratio = (t.requests - minRequests - weight * t.successes) / (t.requests + 1);
    return ratio <= 0 ? 0 : (ratio * (buckets - t.workingBuckets)) / buckets;
  };

  const permit = (): BreakerPermit => {
    let settled = false;
    const settle = (outcome: "success" | "failure"): void => {
      if (settled) return;
      settled = true;
      window.add(outcome);
    };
    return { accept: () => settle("success"), reject: () => settle("failure") };
  };

  return {
    allow() {
      const at = now();
      const ratio = dropRatioOf(window.totals());
      const forced = lastPass !== undefined && at - lastPass > forcePassMs;
      if (ratio > 0 && !forced && random() < ratio) {
        window.add("drop");
        totalDrops += 1;
        return undefined;
      }
      lastPass = at;
      return permit();
    },
    snapshot() {
      const totals = window.totals();
      const dropRatio = dropRatioOf(totals);
      return {
        requests: totals.requests,
        accepts: totals.successes,
        failures: totals.failures,
        drops: totals.drops,
        totalDrops,
        dropRatio,
        state: dropRatio > 0 ? "throttling" : "closed",
      };
    },
  };
}
