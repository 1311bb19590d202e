import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Registry } from "prom-client";
import { migrate, openPgliteExecutor } from "@trellis/sql";
import { userMigrationsDir } from "../repository/open-user-repository.js";
import { createSqlUserRepository } from "../repository/sql-user-repository.js";
import { createChangeFeed } from "./change-feed.js";
import { registerChangeFeedLag } from "./change-feed-metrics.js";
import type { UserRepository } from "./user-repository.js";

async function scrapeLag(registry: Registry): Promise<number | undefined> {
  return (await registry.getSingleMetric("trellis_change_feed_lag")?.get())?.values[0]?.value;
}

describe("change feed lag", () => {
  let repository: UserRepository;
  before(async () => {
    const executor = await openPgliteExecutor("memory://");
    await migrate(executor, { dir: userMigrationsDir(), namespace: "user" });
    repository = createSqlUserRepository(executor);
  });
  after(async () => {
    await repository.close();
  });

  it("is how far the slowest watch is behind the newest change the feed read, and 0 without watches", async () => {
    const feed = createChangeFeed(repository, { pollIntervalMs: 60_000 });
    const registry = new Registry();
    registerChangeFeedLag(registry, feed);
    assert.equal(await scrapeLag(registry), 0, "no watch");

    const start = await repository.latestSequence();
    const controller = new AbortController();
    const fast = feed.watch(start, controller.signal)[Symbol.asyncIterator]();
    const slow = feed.watch(start, controller.signal)[Symbol.asyncIterator]();
    for (let i = 0; i < 5; i += 1) {
      const id = randomUUID();
      await repository.create({ id, email: `${id}@example.com`, displayName: "Lag", roles: [] });
    }
    // The slow watch takes one change and stops pulling; the fast one takes all five.
    assert.equal((await slow.next()).value?.sequence, start + 1n);
    for (let i = 1; i <= 5; i += 1) assert.equal((await fast.next()).value?.sequence, start + BigInt(i));
    assert.equal(feed.lag(), 4);
    assert.equal(await scrapeLag(registry), 4);

    // The slow one catches up by two: it is now 2 behind.
    await slow.next();
    await slow.next();
    assert.equal(await scrapeLag(registry), 2);

    // Gone, it no longer counts: the fast one is at the newest change.
    await slow.return?.();
    assert.equal(await scrapeLag(registry), 0);
    controller.abort();
    await fast.return?.();
    await feed.close();
    assert.equal(await scrapeLag(registry), 0);
  });
});
