import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createTempDir } from "@trellis/kit/testing";
import { repositoryContract } from "../test/repository-contract.js";
import { openUserRepository } from "./open-user-repository.js";
import { migrate, openPgliteExecutor, openSqlExecutor } from "@trellis/sql";
import { userMigrationsDir } from "./open-user-repository.js";
import { createSqlUserRepository } from "./sql-user-repository.js";

repositoryContract("PGlite in memory", () => openUserRepository({ pgliteDataDir: "memory://" }));

describe("PGlite user repository", () => {
  it("migrates once and keeps data in a data folder across reopenings", async () => {
    const dir = createTempDir("trellis-user-");
    const dataDir = join(dir.path, "nested", "db");
    try {
      const first = await openUserRepository({ pgliteDataDir: dataDir });
      const user = await first.create({ id: randomUUID(), email: "keep@example.com", displayName: "Keep", roles: [] });
      await first.close();

      const executor = await openPgliteExecutor(dataDir);
      assert.deepEqual(await migrate(executor, { dir: userMigrationsDir(), namespace: "user" }), [], "already applied");
      const rows = await executor.query("SELECT name FROM schema_migrations");
      assert.deepEqual(rows, [{ name: "user/001_init.sql" }]);
      const second = createSqlUserRepository(executor);
      assert.deepEqual(await second.get(user.id), user);
      await second.close();
    } finally {
      dir.remove();
    }
  });

  it("prunes the change log down to the newest retainChanges", async () => {
    const executor = await openPgliteExecutor("memory://");
    await migrate(executor, { dir: userMigrationsDir(), namespace: "user" });
    const repository = createSqlUserRepository(executor, { retainChanges: 3, pruneEvery: 2 });
    try {
      assert.equal(await repository.oldestSequence(), 1n);
      assert.equal(await repository.latestSequence(), 0n);
      for (let i = 0; i < 6; i += 1) {
        await repository.create({ id: randomUUID(), email: `p${i}@example.com`, displayName: "P", roles: [] });
      }
      assert.equal(await repository.latestSequence(), 6n);
      assert.equal(await repository.oldestSequence(), 4n);
      assert.deepEqual(
        (await repository.changesAfter(0n, 10)).map((change) => change.sequence),
        [4n, 5n, 6n],
      );
    } finally {
      await repository.close();
    }
  });

  it("keeps the newest 100,000 changes, pruning once every 1,000 writes (the service's defaults)", async () => {
    const RETAINED = 100_000;
    const dir = createTempDir("trellis-user-");
    try {
      // A log already holding exactly what is retained, written in one statement.
      const seed = await openSqlExecutor({ pgliteDataDir: dir.path, migrationsDir: userMigrationsDir(), namespace: "user" });
      await seed.query(
        `INSERT INTO user_changes (kind, user_id, payload, commit_time)
         SELECT 'created', gen_random_uuid(), '{}'::jsonb, now() FROM generate_series(1, $1::int)`,
        [RETAINED],
      );
      await seed.close();
      // As the service opens it (main.ts passes no options).
      const repository = await openUserRepository({ pgliteDataDir: dir.path });
      try {
        const write = (i: number) => repository.create({ id: randomUUID(), email: `r${i}@example.com`, displayName: "R", roles: [] });
        for (let i = 1; i < 1000; i += 1) await write(i);
        assert.equal(await repository.oldestSequence(), 1n, "nothing is pruned before the 1,000th write");
        await write(1000);
        assert.equal(await repository.latestSequence(), BigInt(RETAINED + 1000));
        assert.equal(await repository.oldestSequence(), 1001n, "the 1,000th write pruned down to the newest 100,000");
      } finally {
        await repository.close();
      }
    } finally {
      dir.remove();
    }
  });
});
