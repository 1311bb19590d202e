import { ChangesAheadError, ChangesPrunedError } from "./user-errors.js";
import type { UserChange, UserRepository } from "./user-repository.js";

/** Options of {@link createChangeFeed}. */
export interface ChangeFeedOptions {
  /** Poll this often even without a commit hint, in case a notification was lost. @default 1000 */
  readonly pollIntervalMs?: number;
  /** Recent changes kept in memory for watchers that keep up. @default 10_000 */
  readonly tailSize?: number;
  /** Changes read per `changesAfter` call. @default 500 */
  readonly pageSize?: number;
}

/** Streams the user change log to any number of watchers. */
export interface ChangeFeed {
  /**
   * Every change with sequence > `after`, in sequence order, until `signal` aborts (then the
   * iteration ends normally) or the feed closes.
   * @throws ChangesPrunedError when changes after `after` were already pruned
   * @throws ChangesAheadError when `after` is past the newest change (a watch from there would
   *   silently skip the changes up to it)
   */
  watch(after: bigint, signal: AbortSignal): AsyncIterable<UserChange>;
  /**
   * How far the slowest watch is behind: the newest change sequence the feed
   * has read from the log minus the last sequence handed to that watch. 0
   * with no watch, or before the feed's first read.
   */
  lag(): number;
  /** Ends every watch and stops polling. */
  close(): Promise<void>;
}

/**
 * A change feed over `repository`. One shared poller per feed reads new changes (woken by
 * `onCommit`, with a fallback timer) into a bounded in-memory tail; each watcher follows its
 * own cursor, from the tail while its cursor is inside it, otherwise by paging the change
 * log. A slow watcher thus only falls behind itself: it never holds up writers, the poller
 * or other watchers, and memory stays bounded by the tail plus one page per watcher.
 */
export function createChangeFeed(repository: UserRepository, options: ChangeFeedOptions = {}): ChangeFeed {
  const settings: PollerSettings = {
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    tailSize: Math.max(1, options.tailSize ?? 10_000),
    pageSize: Math.max(1, options.pageSize ?? 500),
  };
  const closing = new AbortController();
  let poller: Poller | undefined;
  let watchers = 0;
  // Each watch's last handed-over sequence, for lag(): read at scrape time only.
  const positions = new Set<{ position: bigint }>();

  /** Registers a watcher; the poller runs while at least one is registered. */
  const join = (): { readonly poller: Poller; leave(): void } => {
    watchers += 1;
    const joined = (poller ??= startPoller(repository, settings));
    let left = false;
    return {
      poller: joined,
      leave: () => {
        if (left) return;
        left = true;
        watchers -= 1;
        if (watchers === 0) {
          joined.stop();
          if (poller === joined) poller = undefined;
        }
      },
    };
  };

  async function* watch(after: bigint, signal: AbortSignal): AsyncGenerator<UserChange> {
    const stop = AbortSignal.any([signal, closing.signal]);
    if (stop.aborted) return;
    const session = join();
    // Leave as soon as the caller aborts, even if it never pulls again.
    const onAbort = (): void => session.leave();
    stop.addEventListener("abort", onAbort, { once: true });
    const watcher = { position: after };
    positions.add(watcher);
    try {
      let cursor = after;
      await assertInLog(repository, cursor);
      while (!stop.aborted) {
        const { poller: current } = session;
        if (!current.ready()) {
          await current.waitForChange(stop);
          continue;
        }
        if (cursor < current.tailFrom()) {
          // Behind the tail: page from the log; the check after the read proves that no
          // change after `cursor` was pruned before this page was read.
          const page = await repository.changesAfter(cursor, settings.pageSize);
          await assertNotPruned(repository, cursor);
          for (const change of page) {
            if (stop.aborted) return;
            watcher.position = change.sequence;
            yield change;
            cursor = change.sequence;
          }
          if (page.length === 0) await current.waitForChange(stop);
          continue;
        }
        const next = current.changeAfter(cursor);
        if (next) {
          watcher.position = next.sequence;
          yield next;
          cursor = next.sequence;
        } else {
          await current.waitForChange(stop);
        }
      }
    } finally {
      positions.delete(watcher);
      stop.removeEventListener("abort", onAbort);
      session.leave();
    }
  }

  return {
    watch,
    lag: () => {
      const head = poller?.head();
      if (head === undefined) return 0;
      let slowest = head;
      for (const { position } of positions) if (position < slowest) slowest = position;
      return Number(head - slowest);
    },
    close: async () => {
      closing.abort();
      poller?.stop();
      poller = undefined;
    },
  };
}

async function assertNotPruned(repository: UserRepository, cursor: bigint): Promise<void> {
  const oldest = await repository.oldestSequence();
  if (cursor < oldest - 1n) throw new ChangesPrunedError(cursor, oldest);
}

/** The cursor is a position the log holds: not pruned, and not past its newest change. */
async function assertInLog(repository: UserRepository, cursor: bigint): Promise<void> {
  await assertNotPruned(repository, cursor);
  const latest = await repository.latestSequence();
  if (cursor > latest) throw new ChangesAheadError(cursor, latest);
}

interface PollerSettings {
  readonly pollIntervalMs: number;
  readonly tailSize: number;
  readonly pageSize: number;
}

/** The shared reader of new changes and its in-memory tail. */
interface Poller {
  /** True once `tailFrom` and the tail are known. */
  ready(): boolean;
  /** The newest sequence read from the log, once known. */
  head(): bigint | undefined;
  /** The tail holds every change with sequence in (tailFrom, head]. */
  tailFrom(): bigint;
  /** The first tail change after `cursor`; only meaningful when `cursor >= tailFrom()`. */
  changeAfter(cursor: bigint): UserChange | undefined;
  /** Resolves when the tail grows, the poller stops, or `signal` aborts. */
  waitForChange(signal: AbortSignal): Promise<void>;
  stop(): void;
}

function startPoller(repository: UserRepository, settings: PollerSettings): Poller {
  const tail: UserChange[] = [];
  let head: bigint | undefined;
  let tailFrom = 0n;
  let stopped = false;
  let dirty = true;
  let wakePoller: (() => void) | undefined;
  const waiters = new Set<() => void>();

  const wakeWatchers = (): void => {
    const current = [...waiters];
    waiters.clear();
    for (const resolve of current) resolve();
  };

  const unsubscribe = repository.onCommit(() => {
    dirty = true;
    wakePoller?.();
  });

  const sleep = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        wakePoller = undefined;
        resolve();
      };
      const timer = setTimeout(done, settings.pollIntervalMs);
      wakePoller = done;
    });

  const pollOnce = async (from: bigint): Promise<void> => {
    let position = from;
    for (;;) {
      const page = await repository.changesAfter(position, settings.pageSize);
      const last = page.at(-1);
      if (stopped || !last) return;
      tail.push(...page);
      position = last.sequence;
      head = position;
      if (tail.length > settings.tailSize) {
        const dropped = tail.splice(0, tail.length - settings.tailSize);
        tailFrom = dropped.at(-1)?.sequence ?? tailFrom;
      }
      wakeWatchers();
      if (page.length < settings.pageSize) return;
    }
  };

  const run = async (): Promise<void> => {
    while (!stopped) {
      let failed = false;
      try {
        dirty = false;
        if (head === undefined) {
          const latest = await repository.latestSequence();
          if (stopped) return;
          head = latest;
          tailFrom = latest;
          wakeWatchers();
        }
        await pollOnce(head);
      } catch {
        // Transient (database unreachable): retry after the interval, not in a tight loop.
        failed = true;
      }
      if (!stopped && (failed || !dirty)) await sleep();
    }
  };
  void run();

  return {
    ready: () => head !== undefined,
    head: () => head,
    tailFrom: () => tailFrom,
    changeAfter: (cursor) => {
      // Binary search for the first change with sequence > cursor.
      let low = 0;
      let high = tail.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if ((tail[mid]?.sequence ?? 0n) <= cursor) low = mid + 1;
        else high = mid;
      }
      return tail[low];
    },
    waitForChange: (signal) =>
      new Promise<void>((resolve) => {
        if (stopped || signal.aborted) return resolve();
        const done = (): void => {
          waiters.delete(done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        waiters.add(done);
        signal.addEventListener("abort", done, { once: true });
      }),
    stop: () => {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      wakePoller?.();
      wakeWatchers();
      tail.length = 0;
    },
  };
}
