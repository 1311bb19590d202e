import { AsyncResource } from "node:async_hooks";
import { register } from "on-exit-leak-free";

/**
 * Runs `work` in the check phase of the next event-loop turn. Node sends
 * HTTP/2 frames from setImmediate too, so anything run earlier — in this
 * turn's microtasks or check phase — runs before the responses of this turn go
 * out: measured one call at a time, an access line built and written that way
 * added 15–35 µs to every call; one turn later it adds nothing measurable.
 */
export function afterResponses(work: () => void): void {
  setImmediate(() => setImmediate(work));
}

/** Work queued to run after the responses of the current turn. */
export interface DeferredQueue {
  /** Queues `work`; everything queued in one turn runs together. Once the process is exiting, runs it at once. */
  defer(work: () => void): void;
  /** Runs what is queued now. */
  flush(): void;
}

// The exit hook gets the queue (held weakly), so its state stays reachable only through it.
const EXIT = Symbol("exit");
type ExitingQueue = DeferredQueue & { [EXIT](): void };

/**
 * A queue of work run together by {@link afterResponses}. On process exit it
 * runs what is queued and from then on runs work at once, so nothing is lost
 * when the process ends in the turn that queued it — also work queued by
 * another exit hook that ran later.
 * @param schedule runs a batch. @default afterResponses
 */
export function createDeferredQueue(schedule: (run: () => void) => void = afterResponses): DeferredQueue {
  let queued: (() => void)[] = [];
  let exiting = false;
  // A batch runs in the context the queue was made in, not in that of the call
  // that happened to queue first: a log line written by it must not carry that
  // call's trace ids (and merging them into every line cost ~3 µs a line).
  const startBatch = AsyncResource.bind(() => schedule(queue.flush));
  const queue: ExitingQueue = {
    defer(work) {
      if (exiting) return work();
      if (queued.length === 0) startBatch();
      queued.push(work);
    },
    flush() {
      const batch = queued;
      queued = [];
      for (const work of batch) work();
    },
    [EXIT]() {
      exiting = true;
      queue.flush();
    },
  };
  register(queue, (exitingQueue: ExitingQueue) => exitingQueue[EXIT]());
  return queue;
}
