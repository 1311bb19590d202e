import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from "node:perf_hooks";

/** How busy the process is over the recent past. */
export interface LoadReading {
  /** Event-loop utilisation, 0..1: the share of time the loop ran code rather than waited for I/O. */
  readonly utilization: number;
  /** The 99th percentile of event-loop delay, milliseconds: how late a timer due now would run. */
  readonly delayMs: number;
}

/** The overload signal a load shedder reads, injectable for tests. */
export interface LoadSignal {
  read(): LoadReading;
  close(): void;
}

/** Options of {@link createEventLoopSignal}. */
export interface EventLoopSignalOptions {
  /** A reading covers at least this long; reads within it return the last one. @default 50 */
  readonly intervalMs?: number;
  /** The delay histogram's sampling resolution. @default 10 */
  readonly resolutionMs?: number;
  /** @default performance.now */
  readonly now?: () => number;
}

/**
 * Node's overload signal: event-loop utilisation (`performance.eventLoopUtilization`)
 * and event-loop delay (`monitorEventLoopDelay`) since the previous reading.
 * Nothing runs between reads besides the delay monitor's own timer: a reading
 * is taken when asked for and the interval has passed. On a single-threaded
 * server these say what CPU usage says for go-zero's shedder, and more: a
 * loop that is 100 % busy with calls queueing behind it.
 */
export function createEventLoopSignal(options: EventLoopSignalOptions = {}): LoadSignal {
  const intervalMs = options.intervalMs ?? 50;
  const resolutionMs = options.resolutionMs ?? 10;
  const now = options.now ?? (() => performance.now());
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  let previous: EventLoopUtilization = performance.eventLoopUtilization();
  let takenAt = now();
  let last: LoadReading = { utilization: 0, delayMs: 0 };
  return {
    read() {
      const at = now();
      const elapsed = at - takenAt;
      if (elapsed < intervalMs) return last;
      const current = performance.eventLoopUtilization();
      const delta = performance.eventLoopUtilization(current, previous);
      previous = current;
      takenAt = at;
      // The histogram is in nanoseconds. Empty, its timer never ran since the last reading: the
      // loop was blocked all along (a read inside one long turn), as late as the whole interval.
      const delayMs = histogram.count > 0 ? histogram.percentile(99) / 1e6 : elapsed > 2 * resolutionMs ? elapsed : 0;
      histogram.reset();
      last = { utilization: delta.utilization, delayMs };
      return last;
    },
    close() {
      histogram.disable();
    },
  };
}
