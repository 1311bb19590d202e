/** Options of {@link createTimeSlicer}. */
export interface TimeSlicerOptions {
  /** Continuous work after which the next piece of work waits for an event-loop turn. @default 10 */
  readonly sliceMs?: number;
  /** A monotonic clock in milliseconds. @default performance.now */
  readonly now?: () => number;
  /** Runs `callback` after pending I/O had a turn. @default setImmediate */
  readonly schedule?: (callback: () => void) => void;
}

/** Keeps work that only ever resolves promises (never waits for I/O) from starving the event loop. */
export interface TimeSlicer {
  /**
   * Call before each piece of work. Returns undefined while the current slice lasts (no
   * extra await on the hot path); once work has run for `sliceMs` without the event loop
   * getting a turn, returns a promise that resolves after the next turn.
   */
  turn(): Promise<void> | undefined;
}

/**
 * A cooperative time slicer. Work whose promises resolve without real I/O (PGlite runs
 * PostgreSQL as synchronous WebAssembly in this thread, so its promises settle as microtasks)
 * can chain for seconds without the event loop reaching its poll phase: no socket is read, no
 * timer fires, `/healthz` goes unanswered. A slice starts with the first piece of work after a
 * loop turn and ends at the next turn (a `schedule`d marker); work that finds its slice older
 * than `sliceMs` waits for that turn, which lets other connections' requests in and queue
 * before it.
 */
export function createTimeSlicer(options: TimeSlicerOptions = {}): TimeSlicer {
  const sliceMs = Math.max(0, options.sliceMs ?? 10);
  const now = options.now ?? (() => performance.now());
  const schedule = options.schedule ?? ((callback: () => void) => void setImmediate(callback));
  let sliceStart: number | undefined;
  const endSlice = (): void => {
    sliceStart = undefined;
  };
  return {
    turn: () => {
      const time = now();
      if (sliceStart === undefined) {
        sliceStart = time;
        schedule(endSlice);
        return undefined;
      }
      if (time - sliceStart < sliceMs) return undefined;
      // The marker was scheduled first, so it has ended the slice when this resolves.
      return new Promise((resolve) => schedule(resolve));
    },
  };
}
