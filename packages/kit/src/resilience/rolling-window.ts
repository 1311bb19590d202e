/** What happened to one call, as a breaker's window counts it. */
export type Outcome = "success" | "failure" | "drop";

/** The window's totals, oldest bucket to newest. */
export interface WindowTotals {
  /** Every call counted: successes, failures and drops. */
  readonly requests: number;
  readonly successes: number;
  readonly failures: number;
  /** Calls the breaker refused without sending. */
  readonly drops: number;
  /** Newest buckets in a row that saw failures and no success. */
  readonly failingBuckets: number;
  /** Newest buckets in a row that saw successes and no failure. */
  readonly workingBuckets: number;
}

/** Outcome counts over the last `windowMs`, in `buckets` slices that expire one at a time. */
export interface RollingWindow {
  add(outcome: Outcome): void;
  totals(): WindowTotals;
}

/** Options of {@link createRollingWindow}. */
export interface RollingWindowOptions {
  readonly windowMs: number;
  readonly buckets: number;
  readonly now: () => number;
}

/**
 * A ring of buckets, each stamped with the slice of time it counts, so an old
 * bucket is recognised (and reset) by its stamp rather than by a timer: nothing
 * runs while no calls are made.
 */
export function createRollingWindow(options: RollingWindowOptions): RollingWindow {
  const { windowMs, buckets, now } = options;
  if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets must be a positive integer (got ${buckets})`);
  if (!(windowMs > 0)) throw new RangeError(`windowMs must be positive (got ${windowMs})`);
  const bucketMs = windowMs / buckets;
  const slices = new Float64Array(buckets).fill(Number.NEGATIVE_INFINITY);
  const successes = new Uint32Array(buckets);
  const failures = new Uint32Array(buckets);
  const drops = new Uint32Array(buckets);
  const sliceAt = (): number => Math.floor(now() / bucketMs);
  const indexOf = (slice: number): number => ((slice % buckets) + buckets) % buckets;

  return {
    add(outcome) {
      const slice = sliceAt();
      const i = indexOf(slice);
      if (slices[i] !== slice) {
        slices[i] = slice;
        successes[i] = failures[i] = drops[i] = 0;
      }
      const counts = outcome === "success" ? successes : outcome === "failure" ? failures : drops;
      counts[i] = (counts[i] ?? 0) + 1;
    },
    totals() {
      const current = sliceAt();
      let s = 0,
        f = 0,
        d = 0,
        failingBuckets = 0,
        workingBuckets = 0;
      for (let slice = current - buckets + 1; slice <= current; slice++) {
        const i = indexOf(slice);
        if (slices[i] !== slice) continue;
        const bucketSuccesses = successes[i] ?? 0;
        const bucketFailures = failures[i] ?? 0;
        s += bucketSuccesses;
        f += bucketFailures;
        d += drops[i] ?? 0;
        // Streaks are counted towards the newest bucket, so any bucket that
        // breaks them resets them; buckets holding only drops break neither.
        if (bucketFailures > 0) workingBuckets = 0;
        else if (bucketSuccesses > 0) workingBuckets++;
        if (bucketSuccesses > 0) failingBuckets = 0;
        else if (bucketFailures > 0) failingBuckets++;
      }
      return { requests: s + f + d, successes: s, failures: f, drops: d, failingBuckets, workingBuckets };
    },
  };
}
