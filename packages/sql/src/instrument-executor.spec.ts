import { after, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite";
import { SpanKind, SpanStatusCode, type Span } from "@opentelemetry/api";
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-node";
import { Registry } from "prom-client";
import { instrumentExecutor } from "./instrument-executor.js";
import { pgInfo } from "./pg-executor.js";
import { createPgliteExecutor } from "./pglite-executor.js";
import type { SqlExecutor } from "./sql-executor.js";
import { createSqlMetrics } from "./sql-metrics.js";

// The SDK the way the kit's runService registers it (AsyncLocalStorage context manager), exporting to memory.
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
const tracer = provider.getTracer("test");

/** Runs `work` inside a SERVER span, as a traced handler runs; returns the span. */
async function inHandler(work: () => Promise<unknown>): Promise<ReadableSpan> {
  const span = await tracer.startActiveSpan("trellis.user.v1.UserService/GetUser", { kind: SpanKind.SERVER }, async (active: Span) => {
    try {
      await work().catch(() => undefined);
    } finally {
      active.end();
    }
    return active;
  });
  const finished = exporter.getFinishedSpans().find((s) => s.spanContext().spanId === span.spanContext().spanId);
  assert.ok(finished);
  return finished;
}

/** `{operation: count}` of the duration histogram for `system`, and the sum of every observation. */
async function histogram(registry: Registry, system: string): Promise<{ counts: Record<string, number>; sum: number }> {
  const metric = registry.getSingleMetric("trellis_db_query_duration_seconds");
  assert.ok(metric);
  const counts: Record<string, number> = {};
  let sum = 0;
  // prom-client's histogram values carry the series name (its MetricValue type leaves it out).
  for (const { labels, value, metricName } of (await metric.get()).values as {
    labels: Record<string, unknown>;
    value: number;
    metricName?: string;
  }[]) {
    if (labels["db_system"] !== system) continue;
    if (metricName === "trellis_db_query_duration_seconds_count") counts[String(labels["operation"])] = value;
    if (metricName === "trellis_db_query_duration_seconds_sum") sum += value;
  }
  return { counts, sum };
}

async function gauges(registry: Registry): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const name of ["trellis_db_pool_in_use", "trellis_db_pool_size", "trellis_db_pool_waiting"]) {
    const metric = registry.getSingleMetric(name);
    assert.ok(metric);
    out[name] = Object.fromEntries((await metric.get()).values.map(({ labels, value }) => [String(labels["db_system"]), value]));
  }
  return out;
}

describe("instrumentExecutor", () => {
  let db: PGlite;
  let plain: SqlExecutor;
  before(async () => {
    db = await PGlite.create("memory://");
    plain = createPgliteExecutor(db, { slicing: { sliceMs: 1000 } });
    await plain.exec("CREATE TABLE t (n int PRIMARY KEY, secret text)");
  });
  after(async () => {
    await plain.close();
  });
  beforeEach(async () => {
    exporter.reset();
    await plain.query("DELETE FROM t");
  });

  it("records each statement in the histogram by db_system and SQL verb, for the time the clock measured", async () => {
    const registry = new Registry();
    // Every reading 2 ms after the last: a statement measured from one reading to the next takes 2 ms.
    let clock = 0;
    const executor = instrumentExecutor(plain, { metrics: createSqlMetrics(registry), now: () => (clock += 2) });
    await executor.query("INSERT INTO t (n) VALUES ($1)", [1]);
    await executor.query("SELECT n FROM t");
    await executor.query("UPDATE t SET secret = $1 WHERE n = $2", ["x", 1]);
    await executor.transaction(async (tx) => {
      await tx.query("INSERT INTO t (n) VALUES ($1)", [2]);
      await tx.query("WITH d AS (DELETE FROM t WHERE n = $1 RETURNING n) SELECT n FROM d", [2]);
    });
    await assert.rejects(
      executor.transaction(async (tx) => {
        await tx.query("SELECT n FROM t");
        await tx.query("INSERT INTO t (n) VALUES ($1)", [1]); // a duplicate key
      }),
      /duplicate key/,
    );
    const { counts, sum } = await histogram(registry, "pglite");
    // Transactions: BEGIN and COMMIT, or BEGIN and ROLLBACK (other) after the failed INSERT.
    assert.deepEqual(counts, { insert: 3, select: 2, update: 1, delete: 1, begin: 2, commit: 1, other: 1 });
    assert.equal(Math.round(sum * 1e6) / 1e6, 11 * 0.002);
  });

  it("reports PGlite's one connection: size 1, in use while a statement or transaction runs, the rest waiting", async () => {
    const registry = new Registry();
    const executor = instrumentExecutor(createPgliteExecutor(db), { metrics: createSqlMetrics(registry) });
    assert.deepEqual(await gauges(registry), {
      trellis_db_pool_in_use: { pglite: 0 },
      trellis_db_pool_size: { pglite: 1 },
      trellis_db_pool_waiting: { pglite: 0 },
    });
    let release = (): void => {};
    let opened = (): void => {};
    const isOpen = new Promise<void>((resolve) => (opened = resolve));
    const held = executor.transaction(async (tx) => {
      await tx.query("SELECT 1");
      opened();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await isOpen;
    const queued = executor.query("SELECT 2");
    assert.deepEqual(await gauges(registry), {
      trellis_db_pool_in_use: { pglite: 1 },
      trellis_db_pool_size: { pglite: 1 },
      trellis_db_pool_waiting: { pglite: 1 },
    });
    release();
    await held;
    await queued;
    assert.equal((await gauges(registry))["trellis_db_pool_in_use"]?.["pglite"], 0);
  });

  it("makes a CLIENT span per statement, child of the active span, with the database conventions and no parameter values", async () => {
    const executor = instrumentExecutor(plain, { tracer });
    const parent = await inHandler(async () => {
      await executor.query("INSERT INTO t (n, secret) VALUES ($1, $2)", [7, "hunter2"]);
      await executor.query(`SELECT n\n       FROM t\n      WHERE secret = $1`, ["hunter2"]);
    });
    const spans = exporter.getFinishedSpans().filter((s) => s !== parent);
    assert.deepEqual(
      spans.map((s) => ({
        name: s.name,
        kind: s.kind,
        parent: s.parentSpanContext?.spanId,
        trace: s.spanContext().traceId,
        attributes: s.attributes,
      })),
      [
        {
          name: "INSERT",
          kind: SpanKind.CLIENT,
          parent: parent.spanContext().spanId,
          trace: parent.spanContext().traceId,
          attributes: {
            "db.system": "pglite",
            "db.operation.name": "INSERT",
            "db.query.text": "INSERT INTO t (n, secret) VALUES ($1, $2)",
          },
        },
        {
          name: "SELECT",
          kind: SpanKind.CLIENT,
          parent: parent.spanContext().spanId,
          trace: parent.spanContext().traceId,
          attributes: { "db.system": "pglite", "db.operation.name": "SELECT", "db.query.text": "SELECT n FROM t WHERE secret = $1" },
        },
      ],
    );
    assert.ok(!JSON.stringify(spans.map((s) => s.attributes)).includes("hunter2"), "parameter values stay out of spans");
    assert.ok(spans.every((s) => s.status.code === SpanStatusCode.UNSET));
  });

  it("traces a transaction as BEGIN, its statements and COMMIT, all children of the handler's span", async () => {
    const executor = instrumentExecutor(plain, { tracer });
    const parent = await inHandler(() =>
      executor.transaction(async (tx) => {
        await tx.query("SELECT count(*) FROM t");
        await tx.query("INSERT INTO t (n) VALUES ($1)", [1]);
      }),
    );
    const spans = exporter.getFinishedSpans().filter((s) => s !== parent);
    assert.deepEqual(
      spans.map((s) => s.name),
      ["BEGIN", "SELECT", "INSERT", "COMMIT"],
    );
    assert.ok(spans.every((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId));
  });

  it("marks a failed statement's span as an error with its SQLSTATE, and the ROLLBACK that follows as done", async () => {
    const executor = instrumentExecutor(plain, { tracer });
    const parent = await inHandler(() =>
      executor.transaction(async (tx) => {
        await tx.query("SELECT n FROM no_such_table");
      }),
    );
    const spans = exporter.getFinishedSpans().filter((s) => s !== parent);
    assert.deepEqual(
      spans.map((s) => s.name),
      ["BEGIN", "SELECT", "ROLLBACK"],
    );
    const failed = spans[1]!;
    assert.equal(failed.status.code, SpanStatusCode.ERROR);
    assert.match(failed.status.message ?? "", /no_such_table/);
    assert.equal(failed.attributes["error.type"], "42P01");
    assert.equal(failed.attributes["db.response.status_code"], "42P01");
    assert.equal(spans[2]!.status.code, SpanStatusCode.UNSET);
  });

  it("makes no span without a tracer, even inside a traced call, and returns the executor itself without metrics either", async () => {
    const registry = new Registry();
    const metricsOnly = instrumentExecutor(plain, { metrics: createSqlMetrics(registry) });
    const parent = await inHandler(() => metricsOnly.query("SELECT 1"));
    assert.deepEqual(exporter.getFinishedSpans(), [parent], "only the handler's own span");
    assert.equal((await histogram(registry, "pglite")).counts["select"], 1);
    assert.equal(instrumentExecutor(plain), plain);
    assert.equal(instrumentExecutor(plain, { metrics: undefined, tracer: undefined }), plain);
  });

  it("makes no span outside a traced call (background work starts no trace) unless told to", async () => {
    await instrumentExecutor(plain, { tracer }).query("SELECT 1");
    assert.deepEqual(exporter.getFinishedSpans(), []);
    await instrumentExecutor(plain, { tracer, requireParentSpan: false }).query("SELECT 1");
    const [root] = exporter.getFinishedSpans();
    assert.equal(root?.name, "SELECT");
    assert.equal(root?.parentSpanContext, undefined);
  });

  it("cuts a long query text", async () => {
    const executor = instrumentExecutor(plain, { tracer, maxQueryTextLength: 12 });
    await inHandler(() => executor.query("SELECT n FROM t WHERE n > 0"));
    assert.equal(exporter.getFinishedSpans()[0]?.attributes["db.query.text"], "SELECT n FR…");
  });

  it("stops reading the pool once the executor is closed", async () => {
    const registry = new Registry();
    const metrics = createSqlMetrics(registry);
    const executor = instrumentExecutor(createPgliteExecutor(await PGlite.create("memory://")), { metrics });
    assert.equal((await gauges(registry))["trellis_db_pool_size"]?.["pglite"], 1);
    await executor.close();
    assert.deepEqual((await gauges(registry))["trellis_db_pool_size"], {});
  });
});

describe("pgInfo", () => {
  it("names the server and database of a connection string, never its credentials", () => {
    assert.deepEqual(pgInfo("postgres://app:s3cret@db.internal:6432/users?sslmode=require"), {
      system: "postgresql",
      serverAddress: "db.internal",
      serverPort: 6432,
      database: "users",
    });
    assert.deepEqual(pgInfo("postgresql://app@[::1]/chat"), {
      system: "postgresql",
      serverAddress: "::1",
      serverPort: 5432,
      database: "chat",
    });
    assert.deepEqual(pgInfo("postgresql:///chat?host=/var/run/postgresql"), {
      system: "postgresql",
      serverAddress: "/var/run/postgresql",
      serverPort: 5432,
      database: "chat",
    });
    assert.deepEqual(pgInfo("not a url"), { system: "postgresql" });
  });
});
