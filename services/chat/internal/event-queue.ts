import { Code, RpcError } from "@trellis/kit";

/** A bounded buffer between the room fan-out and one stream's writer. */
export interface EventQueue<T> {
  /** Adds an item; past the bound the queue fails with RESOURCE_EXHAUSTED instead of growing. */
  push(item: T): void;
  /** Ends the queue with an error, delivered after the items already queued. */
  fail(error: unknown): void;
  /** Ends the queue normally. */
  end(): void;
  /** Yields items as they come until the queue ends or fails, or `signal` aborts. */
  drain(signal: AbortSignal): AsyncIterable<T>;
}

/**
 * Creates a queue holding at most `maxItems`. A stream whose client stops
 * reading fills it (grpc-js stops accepting writes once its own buffer is full)
 * and is then disconnected: memory stays bounded and no other stream waits.
 */
export function createEventQueue<T>(maxItems: number): EventQueue<T> {
  const items: T[] = [];
  let failure: unknown;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  return {
    push(item) {
      if (ended || failure !== undefined) return;
      if (items.length >= maxItems) {
        failure = new RpcError(Code.RESOURCE_EXHAUSTED, `client is not reading: more than ${maxItems} events are waiting for it`);
        items.length = 0;
      } else {
        items.push(item);
      }
      notify();
    },
    fail(error) {
      if (failure === undefined && !ended) failure = error;
      notify();
    },
    end() {
      ended = true;
      notify();
    },
    async *drain(signal) {
      const onAbort = (): void => notify();
      signal.addEventListener("abort", onAbort);
      try {
        for (;;) {
          if (signal.aborted) return;
          const item = items.shift();
          if (item !== undefined) {
            yield item;
            continue;
          }
          if (failure !== undefined) throw failure;
          if (ended) return;
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    },
  };
}
