import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { migrate, openPgliteExecutor } from "@trellis/sql";
import { userMigrationsDir } from "../repository/open-user-repository.js";
import { createSqlUserRepository } from "../repository/sql-user-repository.js";
import { createChangeFeed } from "./change-feed.js";
import { ChangesAheadError, ChangesPrunedError } from "./user-errors.js";
import type { UserChange, UserRecord, UserRepository } from "./user-repository.js";

async function openRepository(options: { retainChanges?: number; pruneEvery?: number } = {}): Promise<UserRepository> {
  const executor = await openPgliteExecutor("memory://");
  await migrate(executor, { dir: userMigrationsDir(), namespace: "user" });
  return createSqlUserRepository(executor, options);
}

function createUser(repository: UserRepository): Promise<UserRecord> {
  const id = randomUUID();
  return repository.create({ id, email: `${id}@example.com`, displayName: "Feed", roles: [] });
}

/** Pulls `count` changes from `iterable`, then stops iterating. */
async function take(iterable: AsyncIterable<UserChange>, count: number): Promise<UserChange[]> {
  const out: UserChange[] = [];
  if (count === 0) return out;
  for await (const change of iterable) {
    out.push(change);
    if (out.length === count) break;
  }
  return out;
}

function assertConsecutive(changes: readonly UserChange[], from: bigint): void {
  assert.deepEqual(
    changes.map((change) => change.sequence),
    changes.map((_, index) => from + BigInt(index) + 1n),
  );
}

describe("change feed", () => {
  let repository: UserRepository;
  before(async () => {
    repository = await openRepository();
  });
  after(async () => {
    await repository.close();
  });

  it("delivers every change once, in order, to two watchers", async () => {
    // A long fallback interval: delivery must come from the commit hint.
    const feed = createChangeFeed(repository, { pollIntervalMs: 60_000, tailSize: 5, pageSize: 3 });
    const controller = new AbortController();
    const start = await repository.latestSequence();
    const first = take(feed.watch(start, controller.signal), 30);
    const second = take(feed.watch(start, controller.signal), 30);
    for (let i = 0; i < 10; i += 1) await createUser(repository);
    await Promise.all(Array.from({ length: 20 }, () => createUser(repository)));
    const [a, b] = await Promise.all([first, second]);
    assertConsecutive(a, start);
    assert.deepEqual(
      b.map((change) => change.sequence),
      a.map((change) => change.sequence),
    );
    controller.abort();
    await feed.close();
  });

  it("replays history from an old cursor, then follows live changes", async () => {
    const feed = createChangeFeed(repository, { pollIntervalMs: 60_000, tailSize: 4, pageSize: 2 });
    const start = await repository.latestSequence();
    for (let i = 0; i < 7; i += 1) await createUser(repository);
    const controller = new AbortController();
    const pending = take(feed.watch(start, controller.signal), 10);
    for (let i = 0; i < 3; i += 1) await createUser(repository);
    assertConsecutive(await pending, start);
    controller.abort();
    await feed.close();
  });

  it("lets a slow watcher lag without delaying a fast one or the writers", async () => {
    const feed = createChangeFeed(repository, { pollIntervalMs: 60_000, tailSize: 4, pageSize: 2 });
    const controller = new AbortController();
    const start = await repository.latestSequence();
    const slow = feed.watch(start, controller.signal)[Symbol.asyncIterator]();
    const slowFirst = await Promise.all([slow.next(), createUser(repository)]).then(([result]) => result);
    assert.equal(slowFirst.done, false);

    // The slow watcher now stops pulling while 20 more changes commit and a fast one reads them.
    const fast = take(feed.watch(start, controller.signal), 21);
    for (let i = 0; i < 20; i += 1) await createUser(repository);
    assertConsecutive(await fast, start);

    // The slow one, far behind the 4-change tail, still gets everything in order.
    const rest: UserChange[] = [];
    for (let i = 0; i < 20; i += 1) {
      const result = await slow.next();
      assert.equal(result.done, false);
      if (!result.done) rest.push(result.value);
    }
    assertConsecutive(rest, start + 1n);
    controller.abort();
    assert.equal((await slow.next()).done, true);
    await feed.close();
  });

  it("ends the iteration cleanly when the signal aborts", async () => {
    const feed = createChangeFeed(repository, { pollIntervalMs: 60_000 });
    const controller = new AbortController();
    const iterator = feed.watch(await repository.latestSequence(), controller.signal)[Symbol.asyncIterator]();
    const waiting = iterator.next();
    setImmediate(() => controller.abort());
    assert.deepEqual(await waiting, { done: true, value: undefined });
    assert.equal((await iterator.next()).done, true);

    const aborted = feed.watch(0n, AbortSignal.abort());
    assert.deepEqual(await take(aborted, 1), []);
    await feed.close();
  });

  it("ends every watch when the feed closes", async () => {
    const feed = createChangeFeed(repository, { pollIntervalMs: 60_000 });
    const iterator = feed.watch(await repository.latestSequence(), new AbortController().signal)[Symbol.asyncIterator]();
    const waiting = iterator.next();
    setImmediate(() => void feed.close());
    assert.equal((await waiting).done, true);
  });

  it("throws ChangesPrunedError for a cursor before the retained log", async () => {
    const pruned = await openRepository({ retainChanges: 3, pruneEvery: 1 });
    try {
      for (let i = 0; i < 6; i += 1) await createUser(pruned);
      const feed = createChangeFeed(pruned, { pollIntervalMs: 60_000 });
      const signal = new AbortController().signal;
      await assert.rejects(take(feed.watch(1n, signal), 1), (error: unknown) => {
        assert.ok(error instanceof ChangesPrunedError);
        assert.equal(error.after, 1n);
        assert.equal(error.oldest, 4n);
        return true;
      });
      // The oldest kept position minus one is still a valid cursor.
      assertConsecutive(await take(feed.watch(3n, signal), 3), 3n);
      await feed.close();
    } finally {
      await pruned.close();
    }
  });

  it("throws ChangesAheadError for a cursor past the newest change, and serves the newest itself", async () => {
    const feed = createChangeFeed(repository, { pollIntervalMs: 60_000 });
    const signal = new AbortController().signal;
    const latest = (await createUser(repository), await repository.latestSequence());
    await assert.rejects(take(feed.watch(latest + 1n, signal), 1), (error: unknown) => {
      assert.ok(error instanceof ChangesAheadError);
      assert.equal(error.after, latest + 1n);
      assert.equal(error.latest, latest);
      return true;
    });
    const next = take(feed.watch(latest, signal), 1);
    const created = await createUser(repository);
    assert.deepEqual(
      (await next).map((change) => change.user.id),
      [created.id],
    );
    await feed.close();
  });
});
