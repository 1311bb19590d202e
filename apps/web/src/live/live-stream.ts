import { Code, ConnectError } from "@connectrpc/connect";
import { readProblem } from "../api/rpc-errors.js";

/** Where a live stream is: what the status pill shows. */
export type LiveStatus =
  | { readonly state: "connecting" }
  | { readonly state: "live" }
  | { readonly state: "retrying"; readonly attempt: number; readonly inMs: number; readonly reason: string }
  | { readonly state: "stopped"; readonly reason: string };

/** How to open the stream and what to do with it. */
export interface LiveStreamOptions<T> {
  /**
   * Opens one server stream. `onHeader` must be passed to the call: response headers mean
   * the server has set the stream up (it is live even before the first message).
   */
  open(signal: AbortSignal, onHeader: () => void): AsyncIterable<T>;
  onMessage(message: T): void;
  onStatus(status: LiveStatus): void;
  /** The stream went live (again): time to (re)load what it may have missed. */
  onLive?(): void;
  /** Called with every failure before it is judged (e.g. to drop a resume token the server refused). */
  onFailure?(failure: ConnectError): void;
  /** Codes that will not get better by retrying: the stream stops with the server's message. @default [InvalidArgument, PermissionDenied, Unauthenticated, Unimplemented] */
  readonly fatal?: readonly Code[];
  /** First retry delay; doubles up to maxDelayMs, with full jitter. @default 500 */
  readonly initialDelayMs?: number;
  /** @default 15_000 */
  readonly maxDelayMs?: number;
  /** @default Math.random */
  readonly random?: () => number;
}

/**
 * Keeps a server stream open: reconnects with exponential backoff and full jitter when it
 * fails or the server ends it (a service restart, the edge draining), waits at least as long
 * as a google.rpc.RetryInfo asks,
 * and reports its state. Returns a function that stops it for good.
 */
export function runLiveStream<T>(options: LiveStreamOptions<T>): () => void {
  const controller = new AbortController();
  const fatal = options.fatal ?? [Code.InvalidArgument, Code.PermissionDenied, Code.Unauthenticated, Code.Unimplemented];
  const initial = options.initialDelayMs ?? 500;
  const max = options.maxDelayMs ?? 15_000;
  const random = options.random ?? Math.random;

  void (async () => {
    let attempt = 0;
    while (!controller.signal.aborted) {
      let live = false;
      const goLive = (): void => {
        if (live || controller.signal.aborted) return;
        live = true;
        attempt = 0;
        options.onStatus({ state: "live" });
        options.onLive?.();
      };
      options.onStatus({ state: "connecting" });
      let reason = "the server ended the stream";
      let serverDelay: number | undefined;
      try {
        for await (const message of options.open(controller.signal, goLive)) {
          goLive();
          options.onMessage(message);
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        const failure = ConnectError.from(error);
        options.onFailure?.(failure);
        if (fatal.includes(failure.code)) {
          options.onStatus({ state: "stopped", reason: failure.rawMessage || Code[failure.code] });
          return;
        }
        reason = failure.rawMessage || Code[failure.code];
        serverDelay = readProblem(failure).retryAfterMs;
      }
      if (controller.signal.aborted) return;
      attempt += 1;
      const ceiling = Math.min(max, initial * 2 ** (attempt - 1));
      const inMs = Math.max(serverDelay ?? 0, Math.round(random() * ceiling));
      options.onStatus({ state: "retrying", attempt, inMs, reason });
      await delay(inMs, controller.signal);
    }
  })();

  return () => controller.abort();
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
