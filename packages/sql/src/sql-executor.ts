/**
 * The few database operations the user repository needs, so one set of SQL runs on
 * Postgres (`pg`) and on embedded PGlite alike.
 */

/** A row as the driver returns it; the repository converts the column values. */
export type SqlRow = Record<string, unknown>;

/** Runs statements on one connection or transaction. */
export interface SqlRunner {
  /** Runs one statement with `$1…` parameters and returns its rows. */
  query<R extends SqlRow = SqlRow>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** Called on a notification; `payload` is absent when the executor only knows it may have missed some. */
export type NotificationListener = (payload?: string) => void;

/** Which database an executor talks to, for metrics and spans (never credentials). */
export interface SqlExecutorInfo {
  /** `postgresql` or `pglite` (OpenTelemetry's `db.system`, the metrics' `db_system`). */
  readonly system: string;
  /** The server's host, for PostgreSQL. @default none (embedded) */
  readonly serverAddress?: string;
  /** The server's port, for PostgreSQL. @default none (embedded) */
  readonly serverPort?: number;
  /** The database name. @default none */
  readonly database?: string;
}

/** An executor's connections right now. */
export interface SqlPoolStats {
  /** The most connections it may open (`pg` Pool `max`; PGlite: 1). */
  readonly size: number;
  /** Connections running a statement or held by a transaction. */
  readonly inUse: number;
  /** Statements and transactions waiting for a connection. */
  readonly waiting: number;
}

/** A database: statements, transactions, LISTEN/NOTIFY. */
export interface SqlExecutor extends SqlRunner {
  /** What it talks to, for metrics and spans. @default unknown (instrumentation assumes postgresql) */
  readonly info?: SqlExecutorInfo;
  /** Its connections now, read when metrics are scraped. @default not reported */
  poolStats?(): SqlPoolStats;
  /**
   * Runs `fn` inside BEGIN … COMMIT on one connection; rolls back and rethrows if `fn`
   * throws. To change the isolation level, make `SET TRANSACTION …` the first statement.
   */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /**
   * Subscribes to `channel` (Postgres LISTEN). Resolves once the subscription is in place
   * (or, for a server that cannot be reached yet, once the first attempt ended; the
   * executor keeps trying). Returns the unsubscribe function.
   */
  listen(channel: string, listener: NotificationListener): Promise<() => Promise<void>>;
  /** Releases every connection; the executor is unusable afterwards. */
  close(): Promise<void>;
}

/** The SQLSTATE of a driver error (`pg` and PGlite both expose `code`), if any. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/** The constraint a driver error names (set for unique violations), if any. */
export function sqlConstraint(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "constraint" in error) {
    const name = (error as { constraint: unknown }).constraint;
    return typeof name === "string" ? name : undefined;
  }
  return undefined;
}
