import type { LoadReading, LoadSignal } from "./load-signal.js";

/** An admitted call: say when it ended, exactly once. */
export interface Admission {
  done(): void;
}

/** What a shedder knows now, for metrics and logs. */
export interface ShedderSnapshot {
  /** Admitted calls not yet ended. */
  readonly inFlight: number;
  /** The share of new calls shed while more than `minInFlight` are in flight, 0..1. */
  readonly dropRatio: number;
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
  /**
   * How fast the drop ratio moves: each overloaded reading closes this share
   * of the gap to 1, each calm one takes this share off it. @default 0.15
   */
  readonly gain?: number;
  /** With this many calls in flight or fewer, nothing is shed (one call at a time cannot overload a server). @default 1 */
  readonly minInFlight?: number;
  /** Below this share of the utilisation threshold the load has gone: the drop ratio falls to 0 at once. @default 0.6 */
  readonly calmShare?: number;
  /** @default Math.random */
  readonly random?: () => number;
}

/** The drop ratio never reaches 1: a trickle of calls keeps measuring the server. */
const MAX_DROP_RATIO = 0.98;

/**
 * An adaptive load shedder for a Node server. go-zero's shedder and Kratos'
 * BBR are the anchors: the same `Allow()` contract, overload read from the
 * process' own resource (CPU there; here the event loop: utilisation and
 * delay), and nothing shed while few calls are in flight. Their drop rule —
 * shed past maximum throughput × minimum response time (Little's law) —
 * does not carry over: in a single-threaded server a call's response time
 * includes its wait for the event loop, so under overload the "minimum"
 * response time grows with the queue and the limit with it (measured: a
 * user process flooded with 3,000 calls shed 5 of them). Instead the drop
 * ratio is a feedback loop on the signal itself, as active queue management
 * does (PIE, CoDel): each overloaded reading (every 100 ms) raises it, each
 * calm one lowers it, so the server settles where its event loop just keeps
 * up — admitted calls do not queue — and sheds the rest cheaply. A reading
 * well under the threshold (the load has gone) drops it to 0 at once.
 */
export function createLoadShedder(options: LoadShedderOptions): LoadShedder {
  const signal = options.signal;
  const utilizationThreshold = options.utilizationThreshold ?? 0.95;
  const delayThresholdMs = options.delayThresholdMs ?? 50;
  const gain = options.gain ?? 0.15;
  const minInFlight = options.minInFlight ?? 1;
  const calmShare = options.calmShare ?? 0.6;
  const random = options.random ?? Math.random;
  if (!(gain > 0 && gain <= 1)) throw new RangeError(`gain must be in (0, 1] (got ${gain})`);
  let inFlight = 0;
  let shed = 0;
  let dropRatio = 0;
  let reading: LoadReading | undefined;

  /** Takes the signal's reading and, when it is a new one, moves the drop ratio. */
  const update = (): LoadReading => {
    const next = signal.read();
    if (next === reading) return next;
    reading = next;
    if (next.utilization >= utilizationThreshold || next.delayMs >= delayThresholdMs) {
      dropRatio = Math.min(MAX_DROP_RATIO, dropRatio + (1 - dropRatio) * gain);
    } else if (next.utilization < utilizationThreshold * calmShare && next.delayMs < delayThresholdMs * calmShare) {
      dropRatio = 0;
    } else {
      dropRatio = Math.max(0, dropRatio - gain);
    }
    return next;
  };

  const end = (): void => {
    inFlight -= 1;
  };

  return {
    admit() {
      update();
      if (dropRatio > 0 && inFlight > minInFlight && random() < dropRatio) {
        shed += 1;
        return undefined;
      }
      inFlight += 1;
      let ended = false;
      return {
        done() {
          if (ended) return;
          ended = true;
          end();
        },
      };
    },
    snapshot() {
      const current = update();
      return { inFlight, dropRatio, reading: current, shed };
    },
  };
}
