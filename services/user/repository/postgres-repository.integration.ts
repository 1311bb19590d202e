/**
 * The repository contract and cross-instance behaviour against a real Postgres:
 *   TEST_DATABASE_URL=postgres://user:pass@localhost:5432/db npm run test:postgres
 * Not a `.spec` file, so `npm test` does not need a database.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { createChangeFeed } from "../internal/change-feed.js";
import type { UserChange, UserRepository } from "../internal/user-repository.js";
import { repositoryContract } from "../test/repository-contract.js";
import { openUserRepository } from "./open-user-repository.js";

const databaseUrl = process.env["TEST_DATABASE_URL"];

if (!databaseUrl) {
  describe("Postgres user repository", () => {
    it("needs TEST_DATABASE_URL", () => {
      assert.fail(
        "TEST_DATABASE_URL is not set: point it at a Postgres database the tests may write to, " +
          "e.g. TEST_DATABASE_URL=postgres://trellis:trellis@localhost:5432/trellis_test npm run test:postgres",
      );
    });
  });
} else {
  const url = databaseUrl;
  const open = (): Promise<UserRepository> => openUserRepository({ databaseUrl: url, pgliteDataDir: "unused" });

  repositoryContract("Postgres", open);

  describe("Postgres across instances", () => {
    let a: UserRepository;
    let b: UserRepository;
    let admin: pg.Client;
    before(async () => {
      [a, b] = await Promise.all([open(), open()]);
      admin = new pg.Client({ connectionString: url });
      await admin.connect();
    });
    after(async () => {
      await Promise.all([a?.close(), b?.close(), admin?.end()]);
    });

    const create = (repository: UserRepository): Promise<unknown> => {
      const id = randomUUID();
      return repository.create({ id, email: `${id}@example.com`, displayName: "Cross", roles: [] });
    };

    it("a change feed on one instance sees writes through another, in commit order", async () => {
      // A fallback poll far beyond the test: delivery must come through LISTEN/NOTIFY.
      const feed = createChangeFeed(a, { pollIntervalMs: 600_000 });
      const controller = new AbortController();
      const start = await a.latestSequence();
      const seen: UserChange[] = [];
      const iterator = feed.watch(start, controller.signal)[Symbol.asyncIterator]();
      const first = iterator.next();
      await create(b);
      const firstResult = await first;
      assert.equal(firstResult.done, false);
      if (!firstResult.done) seen.push(firstResult.value);
      for (let i = 0; i < 4; i += 1) await create(b);
      await Promise.all(Array.from({ length: 20 }, () => create(b)));
      const expected = await b.changesAfter(start, 1000);
      assert.ok(expected.length >= 25);
      while (seen.length < expected.length) {
        const result = await iterator.next();
        assert.equal(result.done, false);
        if (!result.done) seen.push(result.value);
      }
      assert.deepEqual(
        seen.map((change) => change.sequence),
        expected.map((change) => change.sequence),
      );
      for (let i = 1; i < seen.length; i += 1) assert.ok((seen[i]?.sequence ?? 0n) > (seen[i - 1]?.sequence ?? 0n));
      controller.abort();
      assert.equal((await iterator.next()).done, true);
      await feed.close();
    });

    it("re-listens after the LISTEN connection drops and tells listeners to catch up", async () => {
      let signal: () => void = () => {};
      const next = (): Promise<void> =>
        new Promise((resolve) => {
          signal = resolve;
        });
      const unsubscribe = a.onCommit(() => signal());
      try {
        let fired = next();
        await create(b);
        await fired; // A's LISTEN is up.

        fired = next();
        const terminated = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = 'trellis-user-listen' AND datname = current_database()`,
        );
        assert.ok((terminated.rowCount ?? 0) >= 1);
        await fired; // the catch-up call after reconnecting

        fired = next();
        await create(b);
        await fired; // notifications flow again
      } finally {
        unsubscribe();
      }
    });

    it("applies migrations once when instances start together", async () => {
      const schema = `trellis_migrate_${randomBytes(4).toString("hex")}`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      try {
        const scoped = new URL(url);
        scoped.searchParams.set("options", `-c search_path=${schema}`);
        const instances = await Promise.all(
          [1, 2, 3].map(() => openUserRepository({ databaseUrl: scoped.toString(), pgliteDataDir: "unused" })),
        );
        await Promise.all(instances.map((instance) => instance.close()));
        const applied = await admin.query(`SELECT name FROM ${schema}.schema_migrations`);
        assert.deepEqual(applied.rows, [{ name: "user/001_init.sql" }]);
      } finally {
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      }
    });
  });
}
