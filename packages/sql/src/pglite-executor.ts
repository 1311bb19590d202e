import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import type { Transaction } from "@electric-sql/pglite";
import type { NotificationListener, SqlExecutor, SqlRow, SqlRunner } from "./sql-executor.js";

/** The data directory value that keeps the whole database in memory. */
export const PGLITE_IN_MEMORY = "memory://";

/**
 * Opens an embedded PGlite database: `dataDir` is a folder (created if missing) or
 * `memory://` for a throw-away in-memory database.
 */
export async function openPgliteExecutor(dataDir: string): Promise<SqlExecutor> {
  if (!dataDir.startsWith(PGLITE_IN_MEMORY)) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  return createPgliteExecutor(db);
}

/** Wraps an open PGlite instance; `close()` closes it. */
export function createPgliteExecutor(db: PGlite): SqlExecutor {
  return {
    query: (sql, params) => runQuery(db, sql, params),
    exec: async (sql) => {
      await db.exec(sql);
    },
    // PGlite is one connection: its transaction() holds it exclusively until COMMIT/ROLLBACK.
    transaction: (fn) => db.transaction((tx) => fn(wrapTransaction(tx))),
    listen: async (channel: string, listener: NotificationListener) => {
      // A fresh closure per call: PGlite keys subscriptions by callback identity.
      const unlisten = await db.listen(channel, (payload) => listener(payload));
      return async () => {
        if (!db.closed) await unlisten();
      };
    },
    close: async () => {
      if (!db.closed) await db.close();
    },
  };
}

function wrapTransaction(tx: Transaction): SqlRunner {
  return {
    query: (sql, params) => runQuery(tx, sql, params),
    exec: async (sql) => {
      await tx.exec(sql);
    },
  };
}

async function runQuery<R extends SqlRow>(
  target: PGlite | Transaction,
  sql: string,
  params: readonly unknown[] | undefined,
): Promise<R[]> {
  const result = await target.query<R>(sql, params ? [...params] : undefined);
  return result.rows;
}
