import type { DescMethod } from "@bufbuild/protobuf";

/** A call in progress, as the shutdown sequence sees it. */
export interface TrackedCall {
  readonly method: DescMethod;
  abort(reason: unknown): void;
  /** When the server's own time limit for the call runs out (epoch ms), if it has one. */
  readonly expiresAt: number | undefined;
  /** Ends the call because its time limit ran out (and resets its stream if that is still open). */
  expire(): void;
  /** Whether the call's HTTP/2 stream has closed (or it has none). */
  readonly streamClosed: boolean;
}

/** The calls in progress on a server, so shutdown can end the ones that outlive the grace period. */
export interface CallTracker {
  add(call: TrackedCall): void;
  delete(call: TrackedCall): void;
  readonly size: number;
  /** Aborts the calls that match, or all of them. */
  abortAll(reason: unknown, filter?: (call: TrackedCall) => boolean): void;
  /** Resolves when no call is in progress. */
  idle(): Promise<void>;
  /**
   * Keeps an ended call whose stream may still be open: a response stream's
   * status can wait behind writes its client has not read, or never leave
   * (grpc-js, see ServerCall.expire). The sweep forgets it once the stream
   * closes, or expires it once its time limit has passed.
   */
  linger(call: TrackedCall): void;
  /** Expires the calls whose time limit has passed. */
  sweep(now: number): void;
}

/** Creates an empty tracker. */
export function createCallTracker(): CallTracker {
  const calls = new Set<TrackedCall>();
  const lingering = new Set<TrackedCall>();
  let waiters: (() => void)[] = [];
  return {
    add: (call) => void calls.add(call),
    delete(call) {
      calls.delete(call);
      if (calls.size === 0 && waiters.length > 0) {
        const done = waiters;
        waiters = [];
        for (const resolve of done) resolve();
      }
    },
    get size() {
      return calls.size;
    },
    abortAll(reason, filter) {
      for (const call of [...calls]) if (filter === undefined || filter(call)) call.abort(reason);
    },
    linger: (call) => void lingering.add(call),
    idle: () => (calls.size === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve))),
    sweep(now) {
      for (const call of calls) if (call.expiresAt !== undefined && call.expiresAt <= now) call.expire();
      for (const call of lingering) {
        if (call.streamClosed) lingering.delete(call);
        else if (call.expiresAt !== undefined && call.expiresAt <= now) {
          lingering.delete(call);
          call.expire();
        }
      }
    },
  };
}
