import { Gauge, type OpenMetricsContentType, type PrometheusContentType, type Registry } from "prom-client";
import { createLeanHistogram } from "./lean-histogram.js";
import type { SqlOperation } from "./sql-operation.js";
import type { SqlPoolStats } from "./sql-executor.js";

/** A prom-client registry of either exposition format. */
export type MetricsRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

/**
 * Buckets of `trellis_db_query_duration_seconds`, 100 µs to 10 s: an embedded
 * PGlite statement takes tens of microseconds to a few milliseconds, one on
 * PostgreSQL over a network a few hundred microseconds and up (Prometheus'
 * default buckets start at 5 ms, where most statements would all fall into
 * the first).
 */
export const QUERY_SECONDS_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** One executor's connections, as the pool gauges read them. */
export interface PoolSource {
  /** The `db_system` label. */
  readonly system: string;
  readonly stats: () => SqlPoolStats;
}

/** The database families of a process, in one registry: hand them to every instrumented executor. */
export interface SqlMetrics {
  readonly registry: MetricsRegistry;
  /** Records one statement's duration. */
  observe(system: string, operation: SqlOperation, seconds: number): void;
  /** Reads `source` at every scrape until the returned function is called. */
  trackPool(source: PoolSource): () => void;
}

/** Options of {@link createSqlMetrics}. */
export interface SqlMetricsOptions {
  /** Buckets of the duration histogram, in seconds. @default QUERY_SECONDS_BUCKETS */
  readonly buckets?: readonly number[];
}

/**
 * Registers the database families in `registry` (the process' one registry,
 * never prom-client's global one): `trellis_db_query_duration_seconds
 * {db_system, operation}` and the pool gauges `trellis_db_pool_in_use`,
 * `trellis_db_pool_size`, `trellis_db_pool_waiting` `{db_system}`, summed over
 * the executors tracked. Call it once per registry (prom-client refuses a
 * family twice) and pass the result to every `instrumentExecutor`.
 */
export function createSqlMetrics(registry: MetricsRegistry, options: SqlMetricsOptions = {}): SqlMetrics {
  const registers = [registry];
  const pools = new Set<PoolSource>();
  const duration = createLeanHistogram({
    name: "trellis_db_query_duration_seconds",
    help: "Time a database statement took as its caller saw it (waiting for a connection included), by database system and SQL verb; a transaction's begin is the time until it was open, its commit the time from its last statement until COMMIT returned.",
    buckets: options.buckets ?? QUERY_SECONDS_BUCKETS,
    registry,
  });
  // Each system and verb's series, bound once.
  const bound = new Map<string, (seconds: number) => void>();
  const poolGauge = (name: string, help: string, read: (stats: SqlPoolStats) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ["db_system"],
      registers,
      collect() {
        this.reset();
        const sums = new Map<string, number>();
        for (const pool of pools) sums.set(pool.system, (sums.get(pool.system) ?? 0) + read(pool.stats()));
        for (const [system, value] of sums) this.set({ db_system: system }, value);
      },
    });
  };
  poolGauge(
    "trellis_db_pool_in_use",
    "Database connections running a statement or held by a transaction (PGlite, one connection: 1 while a statement runs).",
    (s) => s.inUse,
  );
  poolGauge("trellis_db_pool_size", "The most database connections the pool may open (pg's max; PGlite: 1).", (s) => s.size);
  poolGauge("trellis_db_pool_waiting", "Database statements and transactions waiting for a connection.", (s) => s.waiting);
  return {
    registry,
    observe(system, operation, seconds) {
      const key = `${system} ${operation}`;
      let record = bound.get(key);
      if (record === undefined) {
        record = duration.series({ db_system: system, operation });
        bound.set(key, record);
      }
      record(seconds);
    },
    trackPool(source) {
      pools.add(source);
      return () => {
        pools.delete(source);
      };
    },
  };
}
