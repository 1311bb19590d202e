import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite";
import { createPgliteExecutor } from "./pglite-executor.js";
import type { SqlExecutor } from "./sql-executor.js";

describe("PGlite executor", () => {
  let executor: SqlExecutor;
  before(async () => {
    executor = createPgliteExecutor(await PGlite.create("memory://"), { slicing: { sliceMs: 0 } });
    await executor.exec("CREATE TABLE t (n int)");
  });
  after(async () => {
    await executor.close();
  });

  it("lets the event loop run while one caller chains statements (PGlite alone settles them as microtasks)", async () => {
    const statements = 300;
    let completed = 0;
    let completedWhenTimerFired: number | undefined;
    setTimeout(() => (completedWhenTimerFired = completed), 0);
    for (let i = 0; i < statements; i += 1) {
      await executor.query("INSERT INTO t (n) VALUES ($1)", [i]);
      completed += 1;
    }
    assert.ok(
      completedWhenTimerFired !== undefined && completedWhenTimerFired < statements,
      `the timer fired after ${completedWhenTimerFired} of ${statements}`,
    );
  });

  it("serves a caller that arrives meanwhile before the busy caller's next statement", async () => {
    const order: string[] = [];
    const busy = (async () => {
      for (let i = 0; i < 50; i += 1) {
        await executor.transaction(async (tx) => {
          await tx.query("INSERT INTO t (n) VALUES (1)");
        });
        order.push("busy");
      }
    })();
    // Arrives from a timer, as another connection's request would from the poll phase.
    const other = new Promise<void>((resolve) =>
      setTimeout(() => void executor.query("SELECT count(*) FROM t").then(() => (order.push("other"), resolve())), 0),
    );
    await Promise.all([busy, other]);
    assert.ok(order.indexOf("other") < order.length - 1, `served at ${order.indexOf("other")} of ${order.length}`);
  });

  it("rolls back a failed transaction and keeps working", async () => {
    await assert.rejects(
      executor.transaction(async (tx) => {
        await tx.query("INSERT INTO t (n) VALUES (-1)");
        throw new Error("abort");
      }),
      /abort/,
    );
    const [row] = await executor.query<{ count: number }>("SELECT count(*)::int AS count FROM t WHERE n = -1");
    assert.equal(row?.count, 0);
  });
});
