/**
 * The pure part of the p2c-EWMA policy (go-zero's, after Finagle): per-endpoint load
 * bookkeeping and the power-of-two-choices pick. No grpc-js here, so the algorithm
 * is tested with an injected clock and random source; `p2c-ewma.ts` wires it into
 * a grpc-js load balancer.
 */

/** Tunables and injected sources of the p2c-EWMA choice. */
export interface P2cEwmaOptions {
  /**
   * Time constant τ of the latency EWMA. A sample taken Δt after the previous one
   * weighs `1 - exp(-Δt/τ)`, so the average forgets at the same pace whatever the call rate.
   * @default 10_000
   */
  readonly decayMs?: number;
  /**
   * An endpoint drawn but not picked for longer than this is force-picked once, so a
   * node that was slow (and therefore starved of calls) gets measured again.
   * @default 1_000
   */
  readonly probeAfterMs?: number;
  /**
   * Latency sample recorded for a failed call when larger than the measured time: a node
   * that fails fast (refusing, shedding) must look worse, not better.
   * @default 1_000
   */
  readonly failurePenaltyMs?: number;
  /** Monotonic clock in milliseconds. @default performance.now */
  readonly now?: () => number;
  /** Uniform random number in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** How a call ended, as far as load accounting cares. */
export type CallOutcome =
  /** Answered (any status the server chose, including application errors). */
  | "ok"
  /** The endpoint failed the call (UNAVAILABLE, DEADLINE_EXCEEDED, ...): recorded with a latency penalty. */
  | "failed"
  /** The client gave up: the measured time says nothing about the endpoint, so no sample. */
  | "cancelled";

/** Load state of one endpoint. Mutable by design: the policy updates it on every call. */
export interface EndpointLoad {
  /** Calls started on the endpoint and not yet ended. */
  readonly inflight: number;
  /** Time-decayed average latency in ms; 0 until the first sample. */
  readonly ewmaMs: number;
  /** When the chooser last returned this endpoint; -Infinity if never. */
  readonly lastPickedAt: number;
  /** `sqrt(ewmaMs + 1) * (inflight + 1)`: lower is better. */
  score(): number;
  /** Counts a call as in flight from now; the returned function ends it (once). */
  callStarted(): (outcome: CallOutcome) => void;
}

/** Creates endpoint load states and picks among them. */
export interface P2cEwmaChooser {
  /** A fresh load state for a new endpoint (no samples, never picked). */
  track(): EndpointLoad;
  /**
   * Power of two choices: draws two distinct candidates at random and returns the one
   * with the lower score, unless the other was not picked for longer than
   * `probeAfterMs` (then that one, once). One candidate is returned as is; none → undefined.
   */
  choose<T>(candidates: readonly T[], loadOf: (candidate: T) => EndpointLoad): T | undefined;
}

interface MutableLoad extends EndpointLoad {
  lastPickedAt: number;
}

/** The p2c-EWMA algorithm with its clock and random source injected. */
export function createP2cEwmaChooser(options: P2cEwmaOptions = {}): P2cEwmaChooser {
  const decayMs = options.decayMs ?? 10_000;
  const probeAfterMs = options.probeAfterMs ?? 1_000;
  const failurePenaltyMs = options.failurePenaltyMs ?? 1_000;
  const now = options.now ?? (() => performance.now());
  const random = options.random ?? Math.random;

  const track = (): EndpointLoad => {
    let inflight = 0;
    let ewmaMs = 0;
    let lastSampleAt: number | undefined;
    const record = (sampleMs: number, at: number): void => {
      // The first sample is taken as is: decaying towards an invented prior would
      // make a new endpoint look fast (or slow) for τ.
      const weight = lastSampleAt === undefined ? 0 : Math.exp(-Math.max(0, at - lastSampleAt) / decayMs);
      ewmaMs = ewmaMs * weight + sampleMs * (1 - weight);
      lastSampleAt = at;
    };
    const load: MutableLoad = {
      get inflight() {
        return inflight;
      },
      get ewmaMs() {
        return ewmaMs;
      },
      lastPickedAt: Number.NEGATIVE_INFINITY,
      score: () => Math.sqrt(ewmaMs + 1) * (inflight + 1),
      callStarted() {
        const startedAt = now();
        inflight += 1;
        let ended = false;
        return (outcome) => {
          if (ended) return;
          ended = true;
          inflight -= 1;
          if (outcome === "cancelled") return;
          const at = now();
          const latencyMs = Math.max(0, at - startedAt);
          record(outcome === "failed" ? Math.max(latencyMs, failurePenaltyMs) : latencyMs, at);
        };
      },
    };
    return load;
  };

  const choose = <T>(candidates: readonly T[], loadOf: (candidate: T) => EndpointLoad): T | undefined => {
    const at = now();
    const picked = (candidate: T): T => {
      (loadOf(candidate) as MutableLoad).lastPickedAt = at;
      return candidate;
    };
    if (candidates.length <= 1) return candidates[0] === undefined ? undefined : picked(candidates[0]);
    const first = Math.floor(random() * candidates.length);
    let second = Math.floor(random() * (candidates.length - 1));
    if (second >= first) second += 1; // distinct, still uniform
    let better = candidates[first]!;
    let worse = candidates[second]!;
    if (loadOf(better).score() > loadOf(worse).score()) [better, worse] = [worse, better];
    if (at - loadOf(worse).lastPickedAt > probeAfterMs) return picked(worse);
    return picked(better);
  };

  return { track, choose };
}
