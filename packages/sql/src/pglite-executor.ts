import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import type { Transaction } from "@electric-sql/pglite";
import type { NotificationListener, SqlExecutor, SqlRow, SqlRunner } from "./sql-executor.js";
import { createTimeSlicer, type TimeSlicerOptions } from "./time-slicer.js";

/** The data directory value that keeps the whole database in memory. */
const PGLITE_IN_MEMORY = "memory://";

/** Options of {@link createPgliteExecutor} and {@link openPgliteExecutor}. */
export interface PgliteExecutorOptions {
  /**
   * How the executor shares the thread: after `sliceMs` (default 10) of statements without an
   * event-loop turn, the next statement or transaction waits for one (see createTimeSlicer).
   * @default {}
   */
  readonly slicing?: TimeSlicerOptions;
}

/**
 * Opens an embedded PGlite database: `dataDir` is a folder (created if missing) or
 * `memory://` for a throw-away in-memory database.
 */
export async function openPgliteExecutor(dataDir: string, options: PgliteExecutorOptions = {}): Promise<SqlExecutor> {
  if (!dataDir.startsWith(PGLITE_IN_MEMORY)) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  return createPgliteExecutor(db, options);
}

/**
 * Wraps an open PGlite instance; `close()` closes it. PGlite runs PostgreSQL as WebAssembly in
 * this thread and its promises settle without I/O, so a caller that chains statements (an
 * import, say) would otherwise hold the thread for as long as it likes: no other connection's
 * request is even read. Each statement or transaction therefore first asks a time slicer for a
 * turn; PGlite's own queue is first-come first-served, so requests that arrive meanwhile run
 * before the busy caller's next statement.
 */
export function createPgliteExecutor(db: PGlite, options: PgliteExecutorOptions = {}): SqlExecutor {
  const slicer = createTimeSlicer(options.slicing);
  // Statements and transactions asked for and not settled: one runs, the rest wait.
  let pending = 0;
  const settled = (): void => {
    pending -= 1;
  };
  const fair = <T>(work: () => Promise<T>): Promise<T> => {
    pending += 1;
    const wait = slicer.turn();
    const running = wait === undefined ? work() : wait.then(work);
    running.then(settled, settled);
    return running;
  };
  return {
    info: { system: "pglite" },
    // PGlite is one connection.
    poolStats: () => ({ size: 1, inUse: pending > 0 ? 1 : 0, waiting: Math.max(0, pending - 1) }),
    query: (sql, params) => fair(() => runQuery(db, sql, params)),
    exec: (sql) =>
      fair(async () => {
        await db.exec(sql);
      }),
    // PGlite is one connection: its transaction() holds it exclusively until COMMIT/ROLLBACK,
    // so the statements inside do not ask for turns (a wait there would hold everyone up).
    transaction: (fn) => fair(() => db.transaction((tx) => fn(wrapTransaction(tx)))),
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

async function runQuery<R extends SqlRow>(target: PGlite | Transaction, sql: string, params: readonly unknown[] | undefined): Promise<R[]> {
  const result = await target.query<R>(sql, params ? [...params] : undefined);
  return result.rows;
}
