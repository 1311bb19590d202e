import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createMemoryUserRepository } from "../repository/memory-user-repository.js";
import { readSnapshot, type SnapshotItem } from "./snapshot-reader.js";
import { SnapshotOverrunError } from "./user-errors.js";
import type { UserRepository } from "./user-repository.js";

async function seeded(count: number): Promise<UserRepository> {
  let tick = Date.UTC(2026, 0, 1);
  const repository = createMemoryUserRepository({ now: () => new Date((tick += 1)) });
  for (let i = 0; i < count; i += 1)
    await repository.create({ id: randomUUID(), email: `s${i}@example.com`, displayName: `S ${i}`, roles: [1] });
  return repository;
}

/** Counts the page reads a snapshot makes. */
function counting(repository: UserRepository): { readonly repository: UserRepository; readonly pages: () => number } {
  let pages = 0;
  return {
    repository: {
      ...repository,
      snapshotPage: (after, limit) => {
        pages += 1;
        return repository.snapshotPage(after, limit);
      },
    },
    pages: () => pages,
  };
}

describe("readSnapshot", () => {
  it("streams every user once, in pages, then the end at the newest sequence", async () => {
    const repository = await seeded(10);
    const { repository: paged, pages } = counting(repository);
    const items: SnapshotItem[] = [];
    for await (const item of readSnapshot(paged, new AbortController().signal, { pageSize: 3 })) items.push(item);
    assert.equal(pages(), 4);
    assert.equal(items.filter((item) => item.kind === "existing").length, 10);
    assert.deepEqual(items.at(-1), { kind: "end", sequence: await repository.latestSequence() });
  });

  it("ends an empty snapshot at once", async () => {
    const items: SnapshotItem[] = [];
    for await (const item of readSnapshot(createMemoryUserRepository(), new AbortController().signal)) items.push(item);
    assert.deepEqual(items, [{ kind: "end", sequence: 0n }]);
  });

  it("reads no further page once its client has gone, and throws the abort reason", async () => {
    const { repository, pages } = counting(await seeded(10));
    const client = new AbortController();
    const gone = new Error("client gone");
    const read = async (): Promise<void> => {
      for await (const item of readSnapshot(repository, client.signal, { pageSize: 2 })) {
        if (item.kind === "existing") client.abort(gone);
      }
    };
    await assert.rejects(read(), (error: unknown) => error === gone);
    assert.equal(pages(), 1);
  });

  it("reads nothing for a client that is already gone", async () => {
    const { repository, pages } = counting(await seeded(3));
    const client = new AbortController();
    client.abort(new Error("gone"));
    await assert.rejects(readSnapshot(repository, client.signal).next(), /gone/);
    assert.equal(pages(), 0);
  });

  it("refuses with SnapshotOverrunError when changes made during it were pruned", async () => {
    const base = await seeded(4);
    let round = 0;
    const pruning: UserRepository = {
      ...base,
      snapshotPage: async (after, limit) => {
        const page = await base.snapshotPage(after, limit);
        round += 1;
        if (round === 1) await base.update(page.users[0]!.id, { displayName: "changed" });
        return page;
      },
      // The log moved on beyond what it keeps.
      oldestSequence: async () => (await base.latestSequence()) + 1n,
    };
    const read = async (): Promise<void> => {
      for await (const _ of readSnapshot(pruning, new AbortController().signal, { pageSize: 2 })) void _;
    };
    await assert.rejects(read(), SnapshotOverrunError);
  });
});
