import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { classifyStatement } from "./sql-operation.js";

describe("classifyStatement", () => {
  const cases: [sql: string, operation: string, name: string][] = [
    ["SELECT 1", "select", "SELECT"],
    ["  select version FROM users WHERE id = $1::uuid FOR UPDATE", "select", "SELECT"],
    ["\n  -- a comment\n  /* and another */ (SELECT 1) UNION (SELECT 2)", "select", "SELECT"],
    ["INSERT INTO t (n) VALUES ($1)", "insert", "INSERT"],
    ["update users SET x = 1", "update", "UPDATE"],
    ["DELETE FROM user_changes WHERE seq <= $1", "delete", "DELETE"],
    ["BEGIN", "begin", "BEGIN"],
    ["START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "begin", "BEGIN"],
    ["COMMIT", "commit", "COMMIT"],
    ["END", "commit", "COMMIT"],
    ["ROLLBACK", "other", "ROLLBACK"],
    ["CREATE TABLE IF NOT EXISTS schema_migrations (name text)", "other", "CREATE"],
    ['LISTEN "user_changes"', "other", "LISTEN"],
    ["", "other", "other"],
    ["$1", "other", "other"],
    // Data-modifying CTEs: the first verb that writes, as the user repository writes.
    [
      "WITH clock AS (SELECT clock_timestamp() AS ts), u AS (INSERT INTO users SELECT 1 FROM clock RETURNING *) SELECT u.* FROM u",
      "insert",
      "INSERT",
    ],
    [
      "WITH u AS (UPDATE users SET update_time = now() RETURNING *), c AS (INSERT INTO user_changes SELECT 'updated' FROM u) SELECT 1",
      "update",
      "UPDATE",
    ],
    ["WITH d AS (DELETE FROM users WHERE id = $1 RETURNING *) SELECT d.* FROM d", "delete", "DELETE"],
    ["WITH head AS (SELECT coalesce(max(seq), 0) AS snapshot_seq FROM user_changes) SELECT * FROM head", "select", "SELECT"],
    // Words in literals, quoted names and comments are not verbs.
    [`WITH x AS (SELECT 'insert' AS "delete" /* update */) SELECT * FROM x -- insert`, "select", "SELECT"],
  ];
  for (const [sql, operation, name] of cases) {
    it(`${JSON.stringify(sql.slice(0, 50))} is ${operation} (${name})`, () => {
      assert.deepEqual(classifyStatement(sql), { operation, name });
    });
  }
});
