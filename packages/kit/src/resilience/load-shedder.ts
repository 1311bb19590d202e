import type { LoadReading, LoadSignal } from "./load-signal.js";

/** An admitted call: say when it ended, exactly once. */
export interface Admission {
  done(): void;
}

/** What a shedder knows now, for metrics and logs. */
export interface ShedderSnapshot {
  /** Admitted calls not yet ended. */
  readonly inFlight: number;
  /** Calls in flight past which new ones are shed; Infinity while the server is not overloaded. */
  readonly limit: number;
  readonly reading: LoadReading;
  /** Calls shed since the shedder was made. */
  readonly shed: number;
}

/** go-zero's `Allow()` contract: an admission, or undefined when the call must be shed. */
export interface LoadShedder {
  admit(): Admission | undefined;
  snapshot(): ShedderSnapshot;
}

/** Options of {@link createLoadShedder}. */
export interface LoadShedderOptions {
  /** The overload signal (event-loop utilisation and delay); a new reading is a new object. */
  readonly signal: LoadSignal;
  /** Overloaded at or above this event-loop utilisation. @default 0.95 */
  readonly utilizationThreshold?: number;
  /** Overloaded at or above this event-loop delay (p99, ms). @default 50 */
  readonly delayThresholdMs?: number;
  /** Each overloaded reading takes this share off the limit; each calm but busy one adds it. @default 0.2 */
  readonly gain?: number;
  /** With this many calls in flight or fewer, nothing is shed (one call at a time cannot overload a server). @default 1 */
  readonly minInFlight?: number;
  /**
   * The limit never goes below this. Measured under open-loop overload: at 2 a Node server's
   * goodput collapsed (an admitted call holds its slot until its stream closes, a turn of a loop
   * busy shedding later); at 8 and 32 it held. @default 8
   */
  readonly minLimit?: number;
  /** Below this share of both thresholds the load has gone: the limit is lifted at once. @default 0.6 */
  readonly calmShare?: number;
}

/**
 * An adaptive load shedder for a Node server. go-zero's shedder and Kratos'
 * BBR are the anchors: the same `Allow()` contract, overload read from the
 * process' own resource (CPU there; here the event loop: utilisation and
 * delay), and shedding as a limit on the calls in flight, so the calls a
 * server has admitted cannot queue without bound behind each other. Their
 * limit — maximum throughput × minimum response time (Little's law) — does
 * not carry over: in a single-threaded server a call's response time
 * includes its wait for the event loop, so under overload the "minimum"
 * grows with the queue and the limit with it (measured: a user process
 * flooded with 3,000 calls shed 5 of them). Here the limit is found by
 * feedback instead (AIMD, as TCP and Netflix's concurrency limiters do): the
 * first overloaded reading sets it just under the calls in flight, each
 * further one takes a share off, each reading where the loop keeps up but is
 * still busy gives a share back, and a reading well under the thresholds —
 * the load has gone — lifts it at once.
 */
export function createLoadShedder(options: LoadShedderOptions): LoadShedder {
  const signal = options.signal;
  const utilizationThreshold = options.utilizationThreshold ?? 0.95;
  const delayThresholdMs = options.delayThresholdMs ?? 50;
  const gain = options.gain ?? 0.2;
  const minInFlight = options.minInFlight ?? 1;
  const calmShare = options.calmShare ?? 0.6;
  const minLimit = Math.max(minInFlight + 1, options.minLimit ?? 8);
  if (!(gain > 0 && gain < 1)) throw new RangeError(`gain must be in (0, 1) (got ${gain})`);
  let inFlight = 0;
  let shed = 0;
  let limit = Number.POSITIVE_INFINITY;
  let reading: LoadReading | undefined;

  const overloaded = (r: LoadReading): boolean => r.utilization >= utilizationThreshold || r.delayMs >= delayThresholdMs;
  /** Takes the signal's reading and, when it is a new one, moves the limit. */
  const update = (): LoadReading => {
    const next = signal.read();
    if (next === reading) return next;
    reading = next;
    if (overloaded(next)) {
      const from = Number.isFinite(limit) ? limit : inFlight;
      limit = Math.max(minLimit, from * (1 - gain));
    } else if (next.utilization < utilizationThreshold * calmShare && next.delayMs < delayThresholdMs * calmShare) {
      limit = Number.POSITIVE_INFINITY;
    } else if (Number.isFinite(limit)) {
      limit = limit * (1 + gain) + 1;
    }
    return next;
  };

  return {
    admit() {
      update();
      if (inFlight > minInFlight && inFlight >= limit) {
        shed += 1;
        return undefined;
      }
      inFlight += 1;
      let ended = false;
      return {
        done() {
          if (ended) return;
          ended = true;
          inFlight -= 1;
        },
      };
    },
    snapshot() {
      const current = update();
      return { inFlight, limit, reading: current, shed };
    },
  };
}
