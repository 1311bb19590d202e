import { EmailTakenError, UserNotFoundError, VersionConflictError } from "../internal/user-errors.js";
import type { ChangeKind, ListQuery, NewUser, UserChange, UserPatch, UserRecord, UserRepository } from "../internal/user-repository.js";

/** Options of {@link createMemoryUserRepository}. */
export interface MemoryUserRepositoryOptions {
  /** Users present from the start (not in the change log). @default [] */
  readonly seed?: readonly UserRecord[];
  /** Change-log entries kept. @default 100_000 */
  readonly retainChanges?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A UserRepository in process memory, for benchmarks (every peer serves the same
 * in-memory data) and single-process demos; it passes the same contract suite
 * as the SQL repository. Nothing survives a restart, and other instances see
 * nothing: use the SQL repository for real deployments.
 */
export function createMemoryUserRepository(options: MemoryUserRepositoryOptions = {}): UserRepository {
  const now = options.now ?? (() => new Date());
  const retain = options.retainChanges ?? 100_000;
  const users = new Map<string, UserRecord>();
  const emails = new Map<string, string>();
  const changes: UserChange[] = [];
  const listeners = new Set<() => void>();
  let sequence = 0n;
  let oldest = 1n;

  for (const user of options.seed ?? []) {
    users.set(user.id, user);
    emails.set(user.email.toLowerCase(), user.id);
  }
  // Kept sorted between writes: a paged snapshot reads it once per page.
  let ordered: UserRecord[] | undefined;
  const sorted = (): UserRecord[] => (ordered ??= [...users.values()].sort(compareKeys));

  const record = (kind: ChangeKind, user: UserRecord): void => {
    ordered = undefined;
    sequence += 1n;
    changes.push({ sequence, kind, user, commitTime: now() });
    if (changes.length > retain) {
      changes.splice(0, changes.length - retain);
      oldest = changes[0]?.sequence ?? sequence + 1n;
    }
    for (const listener of [...listeners]) queueMicrotask(listener);
  };
  const existing = (id: string): UserRecord => {
    const user = UUID.test(id) ? users.get(id) : undefined;
    if (user === undefined) throw new UserNotFoundError(id);
    return user;
  };

  return {
    async get(id) {
      return UUID.test(id) ? users.get(id) : undefined;
    },
    async create(input: NewUser) {
      const key = input.email.toLowerCase();
      if (emails.has(key)) throw new EmailTakenError(key);
      const at = now();
      const user: UserRecord = { ...input, email: key, roles: [...input.roles], version: 1, createTime: at, updateTime: at };
      users.set(user.id, user);
      emails.set(key, user.id);
      record("created", user);
      return user;
    },
    async update(id, patch: UserPatch, expectedVersion) {
      const current = existing(id);
      if (expectedVersion !== undefined && expectedVersion !== current.version) {
        throw new VersionConflictError(id, expectedVersion, current.version);
      }
      if (patch.email !== undefined) {
        const owner = emails.get(patch.email.toLowerCase());
        if (owner !== undefined && owner !== id) throw new EmailTakenError(patch.email.toLowerCase());
      }
      const user: UserRecord = {
        ...current,
        ...(patch.email === undefined ? {} : { email: patch.email.toLowerCase() }),
        ...(patch.displayName === undefined ? {} : { displayName: patch.displayName }),
        ...(patch.roles === undefined ? {} : { roles: [...patch.roles] }),
        version: current.version + 1,
        updateTime: now(),
      };
      emails.delete(current.email.toLowerCase());
      emails.set(user.email.toLowerCase(), id);
      users.set(id, user);
      record("updated", user);
      return user;
    },
    async delete(id, expectedVersion) {
      const current = existing(id);
      if (expectedVersion !== undefined && expectedVersion !== current.version) {
        throw new VersionConflictError(id, expectedVersion, current.version);
      }
      users.delete(id);
      emails.delete(current.email.toLowerCase());
      record("deleted", current);
      return current;
    },
    async list(query: ListQuery) {
      const needle = query.query?.toLowerCase();
      const after = query.after;
      const out: UserRecord[] = [];
      for (const user of sorted()) {
        if (after !== undefined) {
          const t = user.createTime.getTime() - after.createTime.getTime();
          if (t < 0 || (t === 0 && user.id <= after.id)) continue;
        }
        if (needle !== undefined && !user.email.toLowerCase().includes(needle) && !user.displayName.toLowerCase().includes(needle))
          continue;
        if (query.role !== undefined && !user.roles.includes(query.role)) continue;
        out.push(user);
        if (out.length >= query.limit) break;
      }
      return out;
    },
    async snapshotPage(after, limit) {
      const users = sorted().filter((user) => after === undefined || compareKeys(user, after) > 0);
      return { users: users.slice(0, Math.max(0, limit)), sequence };
    },
    async latestSequence() {
      return sequence;
    },
    async oldestSequence() {
      return oldest;
    },
    async changesAfter(after, limit) {
      return changes.filter((change) => change.sequence > after).slice(0, limit);
    },
    onCommit(listener) {
      listeners.add(listener);
      queueMicrotask(listener);
      return () => void listeners.delete(listener);
    },
    async close() {
      listeners.clear();
    },
  };
}

/** Orders users as the SQL repository's keyset does: by (createTime, id). */
function compareKeys(a: { readonly createTime: Date; readonly id: string }, b: { readonly createTime: Date; readonly id: string }): number {
  return a.createTime.getTime() - b.createTime.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
