import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { repositoryContract } from "../test/repository-contract.js";
import { openUserRepository } from "./open-user-repository.js";
import { migrate, openPgliteExecutor } from "@trellis/sql";
import { userMigrationsDir } from "./open-user-repository.js";
import { createSqlUserRepository } from "./sql-user-repository.js";

repositoryContract("PGlite in memory", () => openUserRepository({ pgliteDataDir: "memory://" }));

describe("PGlite user repository", () => {
  it("migrates once and keeps data in a data folder across reopenings", async () => {
    const dir = await mkdtemp(join(tmpdir(), "trellis-user-"));
    const dataDir = join(dir, "nested", "db");
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
      await rm(dir, { recursive: true, force: true });
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
});
