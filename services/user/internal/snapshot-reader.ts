import { SnapshotOverrunError } from "./user-errors.js";
import type { ListCursor, UserChange, UserRecord, UserRepository } from "./user-repository.js";

/** One item of a snapshot stream. */
export type SnapshotItem =
  /** A user as one page read it. */
  | { readonly kind: "existing"; readonly user: UserRecord }
  /** A change committed while the pages were read that the page holding its user did not see. */
  | { readonly kind: "change"; readonly change: UserChange }
  /** The snapshot is complete: applying everything before this gives the state after `sequence`. */
  | { readonly kind: "end"; readonly sequence: bigint };

/** Options of {@link readSnapshot}. */
export interface SnapshotReaderOptions {
  /** Users read per statement (and changes per catch-up read). @default 500 */
  readonly pageSize?: number;
}

/** What one page read saw: the keys up to `upTo` (to the end when undefined), after change `sequence`. */
interface PageMark {
  readonly upTo: ListCursor | undefined;
  readonly sequence: bigint;
}

/**
 * Streams every user and then the changes that make them one consistent snapshot, without a
 * transaction held between reads and with one page in memory.
 *
 * Pages are read by keyset on (createTime, id), each in one statement that also returns the
 * newest change sequence it saw (`snapshotPage`), so page i is exactly the state after change
 * p(i) for its key range; p grows from page to page. A user's key never changes (updates keep
 * createTime), so after the last page every change c in (p(first), p(last)] is either already in
 * the page holding its user's key (c ≤ that page's p) or is yielded as a change: then the users
 * and changes before `end` are exactly the state after p(last), on PostgreSQL and PGlite alike.
 * Nothing is held open between pages: no connection, no old MVCC snapshot (PostgreSQL), and no
 * lock on PGlite's single connection (a REPEATABLE READ transaction there would stop every
 * other query for as long as the client takes to read).
 *
 * `signal` is checked before and after every read: a client that went away never gets its next
 * page read. Aborting throws `signal.reason`.
 * @throws SnapshotOverrunError when changes made during the snapshot were pruned before they could be read
 */
export async function* readSnapshot(
  repository: UserRepository,
  signal: AbortSignal,
  options: SnapshotReaderOptions = {},
): AsyncGenerator<SnapshotItem> {
  const pageSize = Math.max(1, Math.floor(options.pageSize ?? 500));
  const marks: PageMark[] = [];
  let cursor: ListCursor | undefined;
  for (;;) {
    signal.throwIfAborted();
    const page = await repository.snapshotPage(cursor, pageSize);
    signal.throwIfAborted();
    const last = page.users.at(-1);
    const full = page.users.length >= pageSize && last !== undefined;
    cursor = last === undefined ? cursor : keyOf(last);
    marks.push({ upTo: full ? cursor : undefined, sequence: page.sequence });
    for (const user of page.users) yield { kind: "existing", user };
    if (!full) break;
  }
  const from = (marks[0] as PageMark).sequence;
  const to = (marks.at(-1) as PageMark).sequence;
  let position = from;
  while (position < to) {
    signal.throwIfAborted();
    const changes = await repository.changesAfter(position, pageSize);
    // Read before the check: a prune after the check cannot have removed what was read.
    const oldest = await repository.oldestSequence();
    signal.throwIfAborted();
    if (position < oldest - 1n || changes.length === 0) throw new SnapshotOverrunError(from, to);
    for (const change of changes) {
      if (change.sequence > to) break;
      if (change.sequence > sequenceOfPageHolding(marks, keyOf(change.user))) yield { kind: "change", change };
    }
    position = (changes.at(-1) as UserChange).sequence;
  }
  yield { kind: "end", sequence: to };
}

function keyOf(user: UserRecord): ListCursor {
  return { createTime: user.createTime, id: user.id };
}

/** Orders keys as the keyset does: createTime, then id (canonical lower-case UUIDs compare like their bytes). */
function compareKeys(a: ListCursor, b: ListCursor): number {
  return a.createTime.getTime() - b.createTime.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The sequence the page whose key range holds `key` was read at (binary search; ranges ascend). */
function sequenceOfPageHolding(marks: readonly PageMark[], key: ListCursor): bigint {
  let low = 0;
  let high = marks.length - 1;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const upTo = (marks[mid] as PageMark).upTo;
    if (upTo !== undefined && compareKeys(key, upTo) > 0) low = mid + 1;
    else high = mid;
  }
  return (marks[low] as PageMark).sequence;
}
