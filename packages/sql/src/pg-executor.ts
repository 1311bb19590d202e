import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { NotificationListener, SqlExecutor, SqlExecutorInfo, SqlRow, SqlRunner } from "./sql-executor.js";

/** Options of {@link createPgExecutor}. */
export interface PgExecutorOptions {
  /** `postgres://user:pass@host:port/db` */
  readonly connectionString: string;
  /** Most pooled connections. @default 10 */
  readonly maxConnections?: number;
  /** First delay before reconnecting the LISTEN connection. @default 100 */
  readonly reconnectInitialDelayMs?: number;
  /** Longest delay between reconnect attempts. @default 10_000 */
  readonly reconnectMaxDelayMs?: number;
  /** Randomness for the reconnect jitter, in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** `application_name` of the connections, visible in pg_stat_activity. @default "trellis-user" */
  readonly applicationName?: string;
}

/**
 * A {@link SqlExecutor} on a `pg` pool. Notifications arrive on one dedicated connection
 * (pooled ones come and go) that reconnects with exponential backoff when it drops; after a
 * reconnect every listener is called once without a payload, because notifications sent
 * while it was down are lost and readers must catch up.
 */
export function createPgExecutor(options: PgExecutorOptions): SqlExecutor {
  const applicationName = options.applicationName ?? "trellis-user";
  const maxConnections = options.maxConnections ?? 10;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: maxConnections,
    application_name: applicationName,
  });
  // An idle client that loses its server emits here; the pool already discards it, and an
  // unhandled 'error' event would crash the process.
  pool.on("error", () => {});
  let closed = false;
  const listener = createPgListener({
    connectionString: options.connectionString,
    applicationName: `${applicationName}-listen`,
    initialDelayMs: options.reconnectInitialDelayMs ?? 100,
    maxDelayMs: options.reconnectMaxDelayMs ?? 10_000,
    random: options.random ?? Math.random,
  });

  return {
    info: pgInfo(options.connectionString),
    poolStats: () => ({ size: maxConnections, inUse: pool.totalCount - pool.idleCount, waiting: pool.waitingCount }),
    query: (sql, params) => runQuery(pool, sql, params),
    exec: async (sql) => {
      await pool.query(sql);
    },
    transaction: async (fn) => {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query("BEGIN");
        const result = await fn(wrapClient(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          // A connection that cannot roll back must not go back to the pool.
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    listen: (channel, callback) => listener.listen(channel, callback),
    close: async () => {
      if (closed) return;
      closed = true;
      await listener.close();
      await pool.end();
    },
  };
}

/**
 * The server a connection string names, without its credentials. A host given
 * as a `host=` parameter (a socket folder) counts; pg's PG* variables do not.
 */
export function pgInfo(connectionString: string): SqlExecutorInfo {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return { system: "postgresql" };
  }
  const host = (url.hostname === "" ? (url.searchParams.get("host") ?? "") : decodeURIComponent(url.hostname)).replace(/^\[(.*)\]$/, "$1");
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  return {
    system: "postgresql",
    ...(host === "" ? {} : { serverAddress: host, serverPort: url.port === "" ? 5432 : Number(url.port) }),
    ...(database === "" ? {} : { database }),
  };
}

function wrapClient(client: pg.PoolClient): SqlRunner {
  return {
    query: (sql, params) => runQuery(client, sql, params),
    exec: async (sql) => {
      await client.query(sql);
    },
  };
}

async function runQuery<R extends SqlRow>(
  target: pg.Pool | pg.PoolClient,
  sql: string,
  params: readonly unknown[] | undefined,
): Promise<R[]> {
  const result = await target.query<R>(sql, params ? [...params] : undefined);
  return result.rows;
}

interface PgListenerOptions {
  readonly connectionString: string;
  readonly applicationName: string;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly random: () => number;
}

interface PgListener {
  listen(channel: string, callback: NotificationListener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** The dedicated LISTEN connection: started by the first listen(), kept until close(). */
function createPgListener(options: PgListenerOptions): PgListener {
  const channels = new Map<string, Set<NotificationListener>>();
  const closing = new AbortController();
  const closed = abortedPromise(closing.signal);
  let client: pg.Client | undefined;
  let supervisor: Promise<void> | undefined;
  // Resolves when the first connection attempt ends, successful or not.
  let firstAttempt: Promise<void> | undefined;
  let endFirstAttempt = (): void => {};

  const dispatch = (channel: string, payload: string | undefined): void => {
    for (const callback of channels.get(channel) ?? []) {
      try {
        callback(payload);
      } catch {
        // One listener's failure must not starve the others.
      }
    }
  };

  const supervise = async (): Promise<void> => {
    let failures = 0;
    while (!closing.signal.aborted) {
      const candidate = new pg.Client({
        connectionString: options.connectionString,
        application_name: options.applicationName,
      });
      const dropped = new Promise<void>((resolve) => {
        candidate.on("error", () => resolve());
        candidate.on("end", () => resolve());
      });
      candidate.on("notification", (message) => dispatch(message.channel, message.payload));
      try {
        await candidate.connect();
        client = candidate;
        // Map iteration also visits channels added while this loop awaits.
        for (const channel of channels.keys()) await candidate.query(`LISTEN ${quoteIdent(channel)}`);
        endFirstAttempt();
        if (failures > 0) for (const channel of channels.keys()) dispatch(channel, undefined);
        failures = 0;
        await Promise.race([dropped, closed]);
      } catch {
        // Connect or LISTEN failed: treated like a drop.
      } finally {
        client = undefined;
        endFirstAttempt();
        await candidate.end().catch(() => {});
      }
      if (closing.signal.aborted) return;
      failures += 1;
      const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(failures - 1, 30));
      const delay = ceiling / 2 + (options.random() * ceiling) / 2;
      await sleep(delay, undefined, { signal: closing.signal }).catch(() => {});
    }
  };

  const ensureStarted = (): Promise<void> => {
    if (!supervisor) {
      firstAttempt = new Promise<void>((resolve) => {
        endFirstAttempt = resolve;
      });
      supervisor = supervise();
    }
    return firstAttempt ?? Promise.resolve();
  };

  return {
    listen: async (channel, callback) => {
      if (closing.signal.aborted) throw new Error("executor is closed");
      // A private wrapper so the same function subscribed twice unsubscribes independently.
      const entry: NotificationListener = (payload) => callback(payload);
      let set = channels.get(channel);
      const isNew = !set;
      if (!set) {
        set = new Set();
        channels.set(channel, set);
      }
      set.add(entry);
      const started = ensureStarted();
      if (isNew && client) await client.query(`LISTEN ${quoteIdent(channel)}`).catch(() => {});
      else await started;
      return async () => {
        const current = channels.get(channel);
        if (!current?.delete(entry) || current.size > 0) return;
        channels.delete(channel);
        if (client) await client.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => {});
      };
    },
    close: async () => {
      closing.abort();
      await supervisor;
    },
  };
}

function abortedPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
