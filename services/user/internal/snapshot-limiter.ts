import { SnapshotTooSlowError } from "./user-errors.js";

/** A held snapshot slot. */
export interface SnapshotSlot {
  /** Aborts (reason: SnapshotTooSlowError) when the slot was held for `maxHoldMs`; the slot is free again by then. */
  readonly expired: AbortSignal;
  /** Frees the slot; later calls do nothing. */
  release(): void;
}

/** Bounds how many snapshots a process reads at once, and for how long each may hold its slot. */
export interface SnapshotLimiter {
  /** A slot, or undefined when all are taken (the caller refuses the snapshot: no queueing). */
  tryAcquire(): SnapshotSlot | undefined;
  /** Slots held now. */
  readonly active: number;
  /** The number of slots. */
  readonly limit: number;
}

/** Timers the limiter uses; injected so tests need not wait. */
export interface LimiterTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of {@link createSnapshotLimiter}. */
export interface SnapshotLimiterOptions {
  /** Snapshots read at once. @default 4 */
  readonly maxConcurrent?: number;
  /**
   * How long one snapshot may hold its slot; 0: no limit. A client that reads slowly (or not at
   * all: writes wait on HTTP/2 flow control) would otherwise keep a slot for ever. @default 120_000
   */
  readonly maxHoldMs?: number;
  /** @default the global setTimeout / clearTimeout */
  readonly timers?: LimiterTimers;
}

/**
 * A counting limiter for snapshot reads. Refusing beyond the bound, rather than queueing, keeps
 * abandoned or hostile snapshot requests from piling up work and memory: each running snapshot
 * holds one page; each refused one costs nothing.
 */
export function createSnapshotLimiter(options: SnapshotLimiterOptions = {}): SnapshotLimiter {
  const limit = Math.max(1, Math.floor(options.maxConcurrent ?? 4));
  const maxHoldMs = Math.max(0, options.maxHoldMs ?? 120_000);
  const timers: LimiterTimers = options.timers ?? {
    setTimeout: (callback, ms) => {
      const timer = setTimeout(callback, ms);
      timer.unref();
      return timer;
    },
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
  let active = 0;
  return {
    get active() {
      return active;
    },
    limit,
    tryAcquire: () => {
      if (active >= limit) return undefined;
      active += 1;
      const expiry = new AbortController();
      let held = true;
      const free = (): void => {
        if (!held) return;
        held = false;
        active -= 1;
      };
      const timer =
        maxHoldMs > 0
          ? timers.setTimeout(() => {
              free();
              expiry.abort(new SnapshotTooSlowError(maxHoldMs));
            }, maxHoldMs)
          : undefined;
      return {
        expired: expiry.signal,
        release: () => {
          if (timer !== undefined) timers.clearTimeout(timer);
          free();
        },
      };
    },
  };
}
