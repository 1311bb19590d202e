import { createPgExecutor } from "./pg-executor.js";
import { openPgliteExecutor } from "./pglite-executor.js";
import { migrate } from "./migrate.js";
import { instrumentExecutor, type InstrumentExecutorOptions } from "./instrument-executor.js";
import type { SqlExecutor } from "./sql-executor.js";

/** Where a service keeps its data. */
export interface SqlDatabaseConfig {
  /** PostgreSQL connection string; when set, PostgreSQL is used and `pgliteDataDir` ignored. */
  readonly databaseUrl?: string;
  /** Embedded PGlite data folder (created if missing), or `memory://` for in-memory. */
  readonly pgliteDataDir: string;
  /** The service's `NNN_name.sql` folder. */
  readonly migrationsDir: URL | string;
  /** The service name the migrations are recorded under. */
  readonly namespace: string;
  /** `application_name` PostgreSQL shows for the connections. @default namespace */
  readonly applicationName?: string;
  /** Embedded PGlite only: how long its statements may hold the thread before yielding (createTimeSlicer). @default 10 */
  readonly pgliteSliceMs?: number;
  /**
   * Metrics and spans of its statements, migrations included (`metrics` from
   * `createSqlMetrics`, the service's `tracer`): see instrumentExecutor.
   * @default none
   */
  readonly telemetry?: InstrumentExecutorOptions;
}

/**
 * Opens PostgreSQL (when `databaseUrl` is set) or the embedded PGlite,
 * instruments it as `telemetry` says, applies the service's pending
 * migrations, and returns the executor; on a migration failure the connection
 * is closed before the error is rethrown.
 */
export async function openSqlExecutor(config: SqlDatabaseConfig): Promise<SqlExecutor> {
  const opened = config.databaseUrl
    ? createPgExecutor({ connectionString: config.databaseUrl, applicationName: config.applicationName ?? `trellis-${config.namespace}` })
    : await openPgliteExecutor(
        config.pgliteDataDir,
        config.pgliteSliceMs === undefined ? {} : { slicing: { sliceMs: config.pgliteSliceMs } },
      );
  const executor = config.telemetry === undefined ? opened : instrumentExecutor(opened, config.telemetry);
  try {
    await migrate(executor, { dir: config.migrationsDir, namespace: config.namespace });
  } catch (error) {
    await executor.close().catch(() => undefined);
    throw error;
  }
  return executor;
}
