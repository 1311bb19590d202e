import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { ChangeType, Role, type User, type WatchUsersResponse } from "@trellis/api/trellis/user/v1/user_pb.js";

/** What the directory lists: ListUsers' query and role. */
export interface DirectoryFilter {
  readonly query: string;
  readonly role: Role;
}

/** One page of the directory as shown, kept current by the change feed. */
export interface DirectoryPage {
  readonly rows: readonly User[];
  /** ListUsers' next_page_token for this page; "" on the last page. */
  readonly nextPageToken: string;
  /** Rows that changed live, for a brief highlight: id -> what happened. */
  readonly marks: ReadonlyMap<string, "created" | "updated">;
  /** Users created (matching the filter) since this page was read that belong on a later page. */
  readonly addedElsewhere: number;
}

/** What the change feed taught us, across pages: newer versions and deletions. */
export interface FeedMemory {
  /** The newest version of each user the feed delivered. */
  readonly latest: ReadonlyMap<string, User>;
  /** Users the feed reported deleted (ids are never reused). */
  readonly deleted: ReadonlySet<string>;
}

export const EMPTY_MEMORY: FeedMemory = { latest: new Map(), deleted: new Set() };

/** Orders two versions of one user: update_time, which every write moves forward. */
export function isNewer(candidate: User, than: User): boolean {
  return compareTimestamps(candidate.updateTime, than.updateTime) > 0;
}

function compareTimestamps(a: Timestamp | undefined, b: Timestamp | undefined): number {
  const as = a?.seconds ?? 0n;
  const bs = b?.seconds ?? 0n;
  if (as !== bs) return as < bs ? -1 : 1;
  return (a?.nanos ?? 0) - (b?.nanos ?? 0);
}

/** Whether `user` belongs in a listing with `filter` (ListUsers' rules: substring of email or name, any case). */
export function matchesFilter(user: User, filter: DirectoryFilter): boolean {
  if (filter.role !== Role.UNSPECIFIED && !user.roles.includes(filter.role)) return false;
  const query = filter.query.trim().toLowerCase();
  if (query === "") return true;
  return user.email.toLowerCase().includes(query) || user.displayName.toLowerCase().includes(query);
}

/**
 * A freshly read page, reconciled with what the feed already delivered: a row the feed has
 * since deleted is left out, a row the feed has a newer version of shows that version. The
 * page read and the feed race (either may be first); this makes the order not matter.
 */
export function pageFromList(users: readonly User[], nextPageToken: string, memory: FeedMemory): DirectoryPage {
  const rows = users
    .filter((user) => !memory.deleted.has(user.id))
    .map((user) => {
      const known = memory.latest.get(user.id);
      return known !== undefined && isNewer(known, user) ? known : user;
    });
  return { rows, nextPageToken, marks: new Map(), addedElsewhere: 0 };
}

/** Remembers one change for pages read later. Bounded: the oldest entries go first. */
export function remember(memory: FeedMemory, change: WatchUsersResponse, limit = 5_000): FeedMemory {
  const user = change.user;
  if (user === undefined || user.id === "") return memory;
  if (change.type === ChangeType.DELETED) {
    const deleted = new Set(memory.deleted).add(user.id);
    const latest = new Map(memory.latest);
    latest.delete(user.id);
    return { latest, deleted: trim(deleted, limit) };
  }
  if (change.type !== ChangeType.CREATED && change.type !== ChangeType.UPDATED) return memory;
  const known = memory.latest.get(user.id);
  if (known !== undefined && !isNewer(user, known)) return memory;
  const latest = new Map(memory.latest);
  latest.delete(user.id);
  latest.set(user.id, user);
  return { latest: trim(latest, limit), deleted: memory.deleted };
}

function trim<T extends Set<string> | Map<string, User>>(collection: T, limit: number): T {
  for (const key of collection.keys()) {
    if (collection.size <= limit) break;
    collection.delete(key);
  }
  return collection;
}

/** What applying a change to the page on screen did. */
export interface PageUpdate {
  readonly page: DirectoryPage;
  /** The page must be read again (it filled up and now has a next page whose token we lack). */
  readonly reread: boolean;
}

/**
 * Applies one change-feed event to the page on screen. Users are listed in creation order,
 * so a new user belongs at the end of the last page; updates and deletions apply where the
 * row is. A change older than the row shown (the page was read after it) is ignored.
 */
export function applyChange(page: DirectoryPage, change: WatchUsersResponse, filter: DirectoryFilter, pageSize: number): PageUpdate {
  const user = change.user;
  if (user === undefined || user.id === "") return { page, reread: false };
  const index = page.rows.findIndex((row) => row.id === user.id);
  switch (change.type) {
    case ChangeType.DELETED: {
      if (index < 0) return { page, reread: false };
      const rows = page.rows.filter((row) => row.id !== user.id);
      const marks = new Map(page.marks);
      marks.delete(user.id);
      // A later page's first row now belongs here: read the page again to pull it up.
      return { page: { ...page, rows, marks }, reread: page.nextPageToken !== "" };
    }
    case ChangeType.CREATED:
    case ChangeType.UPDATED: {
      if (index >= 0) {
        const current = page.rows[index]!;
        if (!isNewer(user, current)) return { page, reread: false };
        const rows = page.rows.slice();
        rows[index] = user;
        return { page: { ...page, rows, marks: new Map(page.marks).set(user.id, "updated") }, reread: false };
      }
      if (change.type !== ChangeType.CREATED || !matchesFilter(user, filter)) return { page, reread: false };
      if (page.nextPageToken !== "") return { page: { ...page, addedElsewhere: page.addedElsewhere + 1 }, reread: false };
      if (page.rows.length >= pageSize) return { page, reread: true };
      return {
        page: { ...page, rows: [...page.rows, user], marks: new Map(page.marks).set(user.id, "created") },
        reread: false,
      };
    }
    default:
      return { page, reread: false };
  }
}
