import { context as otelContext, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import { classifyStatement, type ClassifiedStatement } from "./sql-operation.js";
import type { SqlMetrics } from "./sql-metrics.js";
import { sqlState, type SqlExecutor, type SqlRunner } from "./sql-executor.js";

/** Options of {@link instrumentExecutor}. */
export interface InstrumentExecutorOptions {
  /** Where statement durations and the pool gauges go (`createSqlMetrics`). @default no metrics */
  readonly metrics?: SqlMetrics | undefined;
  /** Where spans come from. Without one no span is made and no tracing code runs. @default no spans */
  readonly tracer?: Tracer | undefined;
  /** The `db_system` label and `db.system` attribute. @default executor.info.system, else "postgresql" */
  readonly dbSystem?: string;
  /**
   * Make a span only inside a recording span (a traced, sampled call), so
   * background statements (change-feed polls, migrations, pruning) start no
   * trace of their own. @default true
   */
  readonly requireParentSpan?: boolean;
  /** The longest `db.query.text`, in characters; longer text is cut and ends with "…". @default 2048 */
  readonly maxQueryTextLength?: number;
  /** A monotonic clock in milliseconds. @default performance.now */
  readonly now?: () => number;
}

/** One statement being measured: settle it once. */
interface Measure {
  ok(): void;
  fail(error: unknown): void;
}

/** Distinct statement texts whose classification is kept (dynamic SQL beyond it is classified each time). */
const MAX_CLASSIFIED = 1000;

const BEGIN = classifyStatement("BEGIN");
const COMMIT = classifyStatement("COMMIT");
const ROLLBACK = classifyStatement("ROLLBACK");

/**
 * `executor` with every statement measured: its duration in
 * `trellis_db_query_duration_seconds{db_system, operation}` and, given a
 * tracer, a CLIENT span per statement, child of the active span, with the
 * OpenTelemetry database conventions — name and `db.operation.name` the
 * statement's verb (`SELECT`), `db.system`, `db.query.text` (the SQL as
 * written, with its `$1…` placeholders: parameter values are never read),
 * `db.namespace`, and `server.address` / `server.port` for PostgreSQL; a
 * failed statement's span is an error with `error.type` and
 * `db.response.status_code` set to its SQLSTATE. A transaction is measured as
 * its statements plus BEGIN (until it is open, a connection's wait included)
 * and COMMIT or ROLLBACK (from its last statement until it ends). The
 * executor's connections feed the pool gauges until it is closed.
 * Without metrics or a tracer it returns `executor` itself.
 */
export function instrumentExecutor(executor: SqlExecutor, options: InstrumentExecutorOptions = {}): SqlExecutor {
  const { metrics, tracer } = options;
  if (metrics === undefined && tracer === undefined) return executor;
  const system = options.dbSystem ?? executor.info?.system ?? "postgresql";
  const now = options.now ?? (() => performance.now());
  const info = executor.info ?? { system };
  const requireParent = options.requireParentSpan ?? true;
  const maxText = Math.max(1, options.maxQueryTextLength ?? 2048);
  const baseAttributes: Attributes = {
    "db.system": system,
    ...(info.database === undefined ? {} : { "db.namespace": info.database }),
    ...(info.serverAddress === undefined ? {} : { "server.address": info.serverAddress }),
    ...(info.serverPort === undefined ? {} : { "server.port": info.serverPort }),
  };

  const startSpan = (active: Tracer, statement: ClassifiedStatement, sql: string): Span | undefined => {
    const parent = otelContext.active();
    if (requireParent && trace.getSpan(parent)?.isRecording() !== true) return undefined;
    return active.startSpan(
      statement.name,
      {
        kind: SpanKind.CLIENT,
        attributes: { ...baseAttributes, "db.operation.name": statement.name, "db.query.text": queryText(sql, maxText) },
      },
      parent,
    );
  };

  const measure = (statement: ClassifiedStatement, sql: string): Measure => {
    const started = now();
    const span = tracer === undefined ? undefined : startSpan(tracer, statement, sql);
    const observe = (): void => metrics?.observe(system, statement.operation, (now() - started) / 1000);
    return {
      ok() {
        observe();
        span?.end();
      },
      fail(error) {
        observe();
        if (span !== undefined) endFailed(span, error);
      },
    };
  };

  // Statement texts are few (they are written in code): classify each once.
  const classified = new Map<string, ClassifiedStatement>();
  const classify = (sql: string): ClassifiedStatement => {
    let statement = classified.get(sql);
    if (statement === undefined) {
      statement = classifyStatement(sql);
      if (classified.size < MAX_CLASSIFIED) classified.set(sql, statement);
    }
    return statement;
  };

  /** Measures `running`, a statement started at `started`: the hot path, one `then` and no object of its own. */
  const settle = <T>(running: Promise<T>, statement: ClassifiedStatement, started: number, span: Span | undefined): Promise<T> =>
    running.then(
      (value) => {
        metrics?.observe(system, statement.operation, (now() - started) / 1000);
        span?.end();
        return value;
      },
      (error: unknown) => {
        metrics?.observe(system, statement.operation, (now() - started) / 1000);
        if (span !== undefined) endFailed(span, error);
        throw error;
      },
    );

  const wrap = (runner: SqlRunner): SqlRunner => ({
    query: (sql, params) => {
      const statement = classify(sql);
      const started = now();
      const span = tracer === undefined ? undefined : startSpan(tracer, statement, sql);
      return settle(runner.query(sql, params), statement, started, span);
    },
    exec: (sql) => {
      const statement = classify(sql);
      const started = now();
      const span = tracer === undefined ? undefined : startSpan(tracer, statement, sql);
      return settle(runner.exec(sql), statement, started, span);
    },
  });

  const untrack =
    metrics === undefined || executor.poolStats === undefined
      ? undefined
      : metrics.trackPool({ system, stats: () => executor.poolStats!() });

  return {
    ...wrap(executor),
    info,
    ...(executor.poolStats === undefined ? {} : { poolStats: () => executor.poolStats!() }),
    transaction: (fn) => {
      const begin = measure(BEGIN, "BEGIN");
      let opened = false;
      let end: { readonly measure: Measure; readonly commit: boolean } | undefined;
      const work = executor.transaction(async (tx) => {
        opened = true;
        begin.ok();
        let result;
        try {
          result = await fn(wrap(tx));
        } catch (error) {
          end = { measure: measure(ROLLBACK, "ROLLBACK"), commit: false };
          throw error;
        }
        end = { measure: measure(COMMIT, "COMMIT"), commit: true };
        return result;
      });
      return work.then(
        (result) => {
          end?.measure.ok();
          return result;
        },
        (error: unknown) => {
          if (!opened) begin.fail(error);
          else if (end?.commit === true) end.measure.fail(error);
          // After a failed statement the rollback ran: the transaction's error is not its own.
          else end?.measure.ok();
          throw error;
        },
      );
    },
    listen: (channel, listener) => executor.listen(channel, listener),
    close: async () => {
      untrack?.();
      await executor.close();
    },
  };
}

function endFailed(span: Span, error: unknown): void {
  const state = sqlState(error);
  span.setAttribute("error.type", state ?? (error instanceof Error ? error.name : "Error"));
  if (state !== undefined) span.setAttribute("db.response.status_code", state);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.end();
}

/** The statement as written, on one line, cut at `max` characters. */
function queryText(sql: string, max: number): string {
  const text = sql.replace(/\s+/g, " ").trim();
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
