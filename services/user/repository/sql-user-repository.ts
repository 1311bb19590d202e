import { EmailTakenError, UserNotFoundError, VersionConflictError } from "../internal/user-errors.js";
import type {
  ChangeKind,
  ListQuery,
  NewUser,
  UserChange,
  UserPatch,
  UserRecord,
  UserRepository,
  SnapshotPage,
  ListCursor,
} from "../internal/user-repository.js";
import { sqlConstraint, sqlState, type SqlExecutor, type SqlRow, type SqlRunner } from "@trellis/sql";

/** The NOTIFY channel every committed write announces its sequence on. */
export const USER_CHANGES_CHANNEL = "trellis_user_changes";

/** Advisory lock key every write holds until it commits ("trellis-users"). */
const WRITE_LOCK_KEY = 0x7472_6c75_7372n;
const EMAIL_INDEX = "users_email_lower_key";
const UNIQUE_VIOLATION = "23505";
const INVALID_TEXT = "22P02";
const USER_COLUMNS = "id, email, display_name, roles, version, create_time, update_time";

/** Options of {@link createSqlUserRepository}. */
export interface SqlUserRepositoryOptions {
  /** How many of the newest change-log rows pruning keeps (at least 1). @default 100_000 */
  readonly retainChanges?: number;
  /** Prune after every this many writes of this instance. @default 1000 */
  readonly pruneEvery?: number;
}

/**
 * The {@link UserRepository} in SQL that runs unchanged on Postgres and PGlite. Expects the
 * schema of `migrations/` to be applied (see `migrate`).
 */
export function createSqlUserRepository(executor: SqlExecutor, options: SqlUserRepositoryOptions = {}): UserRepository {
  const retainChanges = BigInt(Math.max(1, Math.floor(options.retainChanges ?? 100_000)));
  const pruneEvery = Math.max(1, Math.floor(options.pruneEvery ?? 1000));
  const listeners = new Set<() => void>();
  let listening: Promise<(() => Promise<void>) | undefined> | undefined;
  let writesSincePrune = 0;

  const notifyListeners = (): void => {
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch {
        // A hint for others; one throwing listener must not stop the rest.
      }
    }
  };

  const prune = async (): Promise<void> => {
    await executor.query("DELETE FROM user_changes WHERE seq <= (SELECT max(seq) FROM user_changes) - $1::bigint", [
      retainChanges.toString(),
    ]);
  };

  /**
   * Runs one write. The transaction first takes a single advisory lock, so writes take their
   * `seq` (bigserial) and commit one at a time: `seq` order is commit order. Without it a
   * transaction could draw seq 7, commit after seq 8, and a reader that already moved its
   * cursor past 8 would never see 7.
   */
  const write = async (email: string | undefined, change: (tx: SqlRunner) => Promise<SqlRow>): Promise<UserRecord> => {
    let row: SqlRow;
    try {
      row = await executor.transaction(async (tx) => {
        await tx.query(`SELECT pg_advisory_xact_lock(${WRITE_LOCK_KEY})`);
        const changed = await change(tx);
        // Delivered at COMMIT, and only if the transaction commits.
        await tx.query("SELECT pg_notify($1, $2)", [USER_CHANGES_CHANNEL, String(changed["seq"])]);
        return changed;
      });
    } catch (error) {
      if (sqlState(error) === UNIQUE_VIOLATION && isEmailIndex(error) && email !== undefined) {
        throw new EmailTakenError(email.toLowerCase());
      }
      throw error;
    }
    // Local watchers need not wait for the NOTIFY round trip.
    notifyListeners();
    writesSincePrune += 1;
    if (writesSincePrune >= pruneEvery) {
      writesSincePrune = 0;
      // Best effort: the write already committed, and the next round retries.
      await prune().catch(() => {});
    }
    return toUserRecord(row);
  };

  return {
    get: async (id) => {
      try {
        const [row] = await executor.query(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1::uuid`, [id]);
        return row ? toUserRecord(row) : undefined;
      } catch (error) {
        if (sqlState(error) === INVALID_TEXT) return undefined; // not a UUID: no such user
        throw error;
      }
    },

    create: (user: NewUser) =>
      write(user.email, async (tx) => {
        const [row] = await tx.query(
          `WITH clock AS (SELECT clock_timestamp() AS ts),
           u AS (
             INSERT INTO users (${USER_COLUMNS})
             SELECT $1::uuid, lower($2::text), $3::text, $4::smallint[], 1, clock.ts, clock.ts FROM clock
             RETURNING *
           ),
           c AS (
             INSERT INTO user_changes (kind, user_id, payload, commit_time)
             SELECT 'created', u.id, to_jsonb(u), u.update_time FROM u
             RETURNING seq
           )
           SELECT u.*, c.seq FROM u CROSS JOIN c`,
          [user.id, user.email, user.displayName, [...user.roles]],
        );
        return mustExist(row);
      }),

    update: (id: string, patch: UserPatch, expectedVersion?: number) =>
      write(patch.email, async (tx) => {
        await lockForWrite(tx, id, expectedVersion);
        const [row] = await tx.query(
          `WITH clock AS (SELECT clock_timestamp() AS ts),
           u AS (
             UPDATE users SET
               email = coalesce(lower($2::text), email),
               display_name = coalesce($3::text, display_name),
               roles = coalesce($4::smallint[], roles),
               version = version + 1,
               update_time = clock.ts
             FROM clock WHERE id = $1::uuid
             RETURNING users.*
           ),
           c AS (
             INSERT INTO user_changes (kind, user_id, payload, commit_time)
             SELECT 'updated', u.id, to_jsonb(u), u.update_time FROM u
             RETURNING seq
           )
           SELECT u.*, c.seq FROM u CROSS JOIN c`,
          [id, patch.email ?? null, patch.displayName ?? null, patch.roles ? [...patch.roles] : null],
        );
        return mustExist(row);
      }),

    delete: (id: string, expectedVersion?: number) =>
      write(undefined, async (tx) => {
        await lockForWrite(tx, id, expectedVersion);
        const [row] = await tx.query(
          `WITH d AS (DELETE FROM users WHERE id = $1::uuid RETURNING *),
           c AS (
             INSERT INTO user_changes (kind, user_id, payload, commit_time)
             SELECT 'deleted', d.id, to_jsonb(d), clock_timestamp() FROM d
             RETURNING seq
           )
           SELECT d.*, c.seq FROM d CROSS JOIN c`,
          [id],
        );
        return mustExist(row);
      }),

    list: async (query: ListQuery) => {
      const params: unknown[] = [];
      const param = (value: unknown): string => {
        params.push(value);
        return `$${params.length}`;
      };
      const where: string[] = [];
      if (query.after) {
        where.push(`(create_time, id) > (${param(query.after.createTime)}::timestamptz, ${param(query.after.id)}::uuid)`);
      }
      if (query.query) {
        const pattern = param(`%${escapeLike(query.query)}%`);
        where.push(`(email ILIKE ${pattern} ESCAPE '\\' OR display_name ILIKE ${pattern} ESCAPE '\\')`);
      }
      if (query.role !== undefined) where.push(`${param(query.role)}::smallint = ANY(roles)`);
      const rows = await executor.query(
        `SELECT ${USER_COLUMNS} FROM users
         ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY create_time, id
         LIMIT ${param(Math.max(0, Math.floor(query.limit)))}`,
        params,
      );
      return rows.map(toUserRecord);
    },

    snapshotPage: async (after: ListCursor | undefined, limit: number): Promise<SnapshotPage> => {
      // One statement, so one MVCC snapshot: the page and the newest sequence agree, and with
      // seq order = commit order (the write lock) the page is the state after that sequence.
      // The LEFT JOIN keeps the sequence when the page is empty.
      const params: unknown[] = [Math.max(0, Math.floor(limit))];
      if (after) params.push(after.createTime, after.id);
      const rows = await executor.query(
        `WITH head AS (SELECT coalesce(max(seq), 0) AS snapshot_seq FROM user_changes)
         SELECT head.snapshot_seq, page.* FROM head LEFT JOIN LATERAL (
           SELECT ${USER_COLUMNS} FROM users
           ${after ? "WHERE (create_time, id) > ($2::timestamptz, $3::uuid)" : ""}
           ORDER BY create_time, id LIMIT $1
         ) page ON true`,
        params,
      );
      return {
        users: rows.filter((row) => row["id"] !== null && row["id"] !== undefined).map(toUserRecord),
        sequence: toBigInt(rows[0]?.["snapshot_seq"] ?? 0),
      };
    },

    latestSequence: async () => {
      const [row] = await executor.query("SELECT coalesce(max(seq), 0) AS seq FROM user_changes");
      return toBigInt(row?.["seq"] ?? 0);
    },

    // 1n while the log is empty: nothing was pruned, a reader at 0n misses nothing.
    oldestSequence: async () => {
      const [row] = await executor.query("SELECT coalesce(min(seq), 1) AS seq FROM user_changes");
      return toBigInt(row?.["seq"] ?? 1);
    },

    changesAfter: async (after: bigint, limit: number) => {
      const rows = await executor.query(
        `SELECT seq, kind, payload, commit_time FROM user_changes
         WHERE seq > $1::bigint ORDER BY seq LIMIT $2`,
        [after.toString(), Math.max(0, Math.floor(limit))],
      );
      return rows.map(toUserChange);
    },

    onCommit: (listener: () => void) => {
      // A private wrapper so the same function registered twice unsubscribes independently.
      const entry = (): void => listener();
      listeners.add(entry);
      // One LISTEN for every listener, kept until close(). Once it is active, listeners are
      // called so they re-read: commits of other instances between their first read and the
      // LISTEN taking effect sent notifications nobody received. If LISTEN cannot be set up,
      // listeners still hear this process's commits; callers poll as a fallback anyway.
      listening ??= executor.listen(USER_CHANGES_CHANNEL, notifyListeners).then(
        (unlisten) => {
          notifyListeners();
          return unlisten;
        },
        () => undefined,
      );
      return () => {
        listeners.delete(entry);
      };
    },

    close: async () => {
      listeners.clear();
      const unlisten = await listening;
      await unlisten?.().catch(() => {});
      await executor.close();
    },
  };
}

/**
 * Locks the row and checks `expectedVersion`, inside the write's transaction. An id Postgres
 * cannot parse as a UUID is a missing user.
 */
async function lockForWrite(tx: SqlRunner, id: string, expectedVersion: number | undefined): Promise<void> {
  let rows: SqlRow[];
  try {
    rows = await tx.query("SELECT version FROM users WHERE id = $1::uuid FOR UPDATE", [id]);
  } catch (error) {
    if (sqlState(error) === INVALID_TEXT) throw new UserNotFoundError(id);
    throw error;
  }
  const [current] = rows;
  if (!current) throw new UserNotFoundError(id);
  const actual = Number(current["version"]);
  if (expectedVersion !== undefined && actual !== expectedVersion) {
    throw new VersionConflictError(id, expectedVersion, actual);
  }
}

function isEmailIndex(error: unknown): boolean {
  const constraint = sqlConstraint(error);
  if (constraint !== undefined) return constraint === EMAIL_INDEX;
  return error instanceof Error && error.message.includes(EMAIL_INDEX);
}

function mustExist(row: SqlRow | undefined): SqlRow {
  // The row was locked FOR UPDATE (or just inserted) in this transaction.
  if (!row) throw new Error("write returned no row");
  return row;
}

/** Makes the user's text match literally inside an ILIKE … ESCAPE '\' pattern. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

function toUserRecord(row: SqlRow): UserRecord {
  return {
    id: String(row["id"]),
    email: String(row["email"]),
    displayName: String(row["display_name"]),
    roles: toRoles(row["roles"]),
    version: Number(row["version"]),
    createTime: toDate(row["create_time"]),
    updateTime: toDate(row["update_time"]),
  };
}

function toUserChange(row: SqlRow): UserChange {
  const payload = row["payload"];
  const user = typeof payload === "string" ? (JSON.parse(payload) as SqlRow) : (payload as SqlRow);
  return {
    sequence: toBigInt(row["seq"]),
    kind: row["kind"] as ChangeKind,
    user: toUserRecord(user),
    commitTime: toDate(row["commit_time"]),
  };
}

function toRoles(value: unknown): number[] {
  if (Array.isArray(value)) return value.map(Number);
  // An unparsed array literal such as "{1,2}".
  if (typeof value === "string") {
    const inner = value.replace(/^\{|\}$/g, "");
    return inner === "" ? [] : inner.split(",").map(Number);
  }
  return [];
}

function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  return new Date(value as string | number);
}

function toBigInt(value: unknown): bigint {
  if (typeof value === "bigint") return value;
  return BigInt(value as string | number);
}
