import { pino, type DestinationStream } from "pino";
import { afterResponses, createDeferredQueue } from "./after-responses.js";

/** Options of {@link createCoalescingDestination}. */
export interface CoalescingDestinationOptions {
  /** A file descriptor or a file path (appended to). @default 1 (stdout) */
  readonly dest?: number | string;
  /** Pending characters at which lines are written at once rather than at the end of the turn. @default 65_536 */
  readonly maxPendingChars?: number;
  /** Runs the deferred write. @default afterResponses (the check phase of the next loop turn) */
  readonly schedule?: (write: () => void) => void;
}

/** A log destination that can be flushed. */
export interface CoalescingDestination extends DestinationStream {
  /** Writes what is pending now. */
  flush(): void;
  /** Same as flush (pino calls this name on its way out). */
  flushSync(): void;
}

/**
 * Where log lines go: the lines written during one turn of the event loop are
 * joined and written with one synchronous write a turn later, after the
 * turn's responses went out (see afterResponses).
 *
 * Why not pino.destination({ sync: false }) (sonic-boom async): measured on the
 * access log at ~17k lines/s, its per-line `Buffer.byteLength` of a not yet
 * flattened string and a write plus a thread-pool round trip every few lines
 * cost ~5 µs per call; one write per turn costs ~2 µs. The synchronous write is
 * sonic-boom's (it retries EAGAIN on a full stdout pipe). Lines pending when
 * the process exits are written on `exit`, and lines logged after that (from
 * other exit hooks) are written at once.
 */
export function createCoalescingDestination(options: CoalescingDestinationOptions = {}): CoalescingDestination {
  const target = pino.destination({ dest: options.dest ?? 1, sync: true });
  const maxPendingChars = options.maxPendingChars ?? 65_536;
  const queue = createDeferredQueue(options.schedule ?? afterResponses);
  let pending = "";
  const flush = (): void => {
    if (pending === "") return;
    const lines = pending;
    pending = "";
    target.write(lines);
  };
  return {
    write(line: string) {
      const first = pending === "";
      pending += line;
      if (pending.length >= maxPendingChars) flush();
      else if (first) queue.defer(flush);
    },
    flush,
    flushSync: flush,
  };
}
