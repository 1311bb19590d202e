export {
  sqlState,
  sqlConstraint,
  type SqlExecutor,
  type SqlExecutorInfo,
  type SqlPoolStats,
  type SqlRunner,
  type SqlRow,
  type NotificationListener,
} from "./sql-executor.js";
export { createPgExecutor, type PgExecutorOptions } from "./pg-executor.js";
export { openPgliteExecutor, createPgliteExecutor, type PgliteExecutorOptions } from "./pglite-executor.js";
export { createTimeSlicer, type TimeSlicer, type TimeSlicerOptions } from "./time-slicer.js";
export { migrate, type MigrateOptions } from "./migrate.js";
export { openSqlExecutor, type SqlDatabaseConfig } from "./open-sql-executor.js";
export { instrumentExecutor, type InstrumentExecutorOptions } from "./instrument-executor.js";
export {
  createSqlMetrics,
  QUERY_SECONDS_BUCKETS,
  type SqlMetrics,
  type SqlMetricsOptions,
  type PoolSource,
  type MetricsRegistry,
} from "./sql-metrics.js";
export { classifyStatement, type ClassifiedStatement, type SqlOperation } from "./sql-operation.js";
