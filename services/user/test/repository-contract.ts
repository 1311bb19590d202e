import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { EmailTakenError, UserNotFoundError, VersionConflictError } from "../internal/user-errors.js";
import { readSnapshot } from "../internal/snapshot-reader.js";
import type { NewUser, UserRecord, UserRepository } from "../internal/user-repository.js";

/**
 * Registers a `describe` block that checks `UserRepository` behaviour any implementation must
 * have. `open` is called once for the block; tests use unique emails and names, so the
 * database may hold other data (a shared Postgres, earlier runs).
 */
export function repositoryContract(name: string, open: () => Promise<UserRepository>): void {
  describe(`UserRepository contract: ${name}`, () => {
    let repository: UserRepository;
    before(async () => {
      repository = await open();
    });
    after(async () => {
      await repository?.close();
    });

    const token = (): string => randomBytes(6).toString("hex");
    const newUser = (fields: Partial<NewUser> = {}): NewUser => ({
      id: randomUUID(),
      email: `${token()}@example.com`,
      displayName: `user ${token()}`,
      roles: [1],
      ...fields,
    });

    it("creates a user and gets it back", async () => {
      const input = newUser({ email: `Mixed.${token()}@Example.COM`, roles: [1, 3] });
      const created = await repository.create(input);
      assert.equal(created.id, input.id);
      assert.equal(created.email, input.email.toLowerCase());
      assert.equal(created.displayName, input.displayName);
      assert.deepEqual(created.roles, [1, 3]);
      assert.equal(created.version, 1);
      assert.ok(created.createTime instanceof Date);
      assert.ok(created.updateTime instanceof Date);
      assert.equal(created.createTime.getTime(), created.updateTime.getTime());
      assert.deepEqual(await repository.get(input.id), created);
    });

    it("returns undefined for a missing or malformed id", async () => {
      assert.equal(await repository.get(randomUUID()), undefined);
      assert.equal(await repository.get("not-a-uuid"), undefined);
    });

    it("rejects a duplicate email, ignoring case, and leaves no row and no change", async () => {
      const first = await repository.create(newUser());
      const latest = await repository.latestSequence();
      const duplicate = newUser({ email: first.email.toUpperCase() });
      await assert.rejects(repository.create(duplicate), (error: unknown) => {
        assert.ok(error instanceof EmailTakenError);
        assert.equal(error.email, first.email);
        return true;
      });
      assert.equal(await repository.get(duplicate.id), undefined);
      const changes = await repository.changesAfter(latest, 1000);
      assert.ok(changes.every((change) => change.user.id !== duplicate.id));
    });

    it("updates with and without an expected version", async () => {
      const created = await repository.create(newUser({ roles: [1] }));
      const renamed = await repository.update(created.id, { displayName: "renamed" });
      assert.equal(renamed.displayName, "renamed");
      assert.equal(renamed.email, created.email, "absent fields are kept");
      assert.deepEqual(renamed.roles, [1]);
      assert.equal(renamed.version, 2);
      assert.ok(renamed.updateTime.getTime() >= created.updateTime.getTime());
      assert.equal(renamed.createTime.getTime(), created.createTime.getTime());

      const email = `New.${token()}@example.com`;
      const patched = await repository.update(created.id, { email, roles: [2, 3] }, 2);
      assert.equal(patched.email, email.toLowerCase());
      assert.deepEqual(patched.roles, [2, 3]);
      assert.equal(patched.version, 3);
      assert.deepEqual(await repository.get(created.id), patched);
    });

    it("rejects an update on a stale version", async () => {
      const created = await repository.create(newUser());
      await repository.update(created.id, { displayName: "first" }, 1);
      await assert.rejects(repository.update(created.id, { displayName: "second" }, 1), (error: unknown) => {
        assert.ok(error instanceof VersionConflictError);
        assert.equal(error.expected, 1);
        assert.equal(error.actual, 2);
        return true;
      });
      assert.equal((await repository.get(created.id))?.displayName, "first");
    });

    it("rejects an update to an email another user has", async () => {
      const one = await repository.create(newUser());
      const two = await repository.create(newUser());
      await assert.rejects(repository.update(two.id, { email: one.email.toUpperCase() }), EmailTakenError);
      assert.equal((await repository.get(two.id))?.email, two.email);
    });

    it("throws UserNotFoundError for updates and deletes of missing users", async () => {
      await assert.rejects(repository.update(randomUUID(), { displayName: "x" }), UserNotFoundError);
      await assert.rejects(repository.delete(randomUUID()), UserNotFoundError);
      await assert.rejects(repository.delete("not-a-uuid"), UserNotFoundError);
    });

    it("deletes, checking the expected version", async () => {
      const created = await repository.create(newUser());
      await assert.rejects(repository.delete(created.id, 7), VersionConflictError);
      const deleted = await repository.delete(created.id, 1);
      assert.equal(deleted.id, created.id);
      assert.equal(await repository.get(created.id), undefined);
      await assert.rejects(repository.delete(created.id), UserNotFoundError);
      // The email is free again.
      await repository.create(newUser({ email: created.email }));
    });

    it("pages through users by (createTime, id) without duplicates or gaps", async () => {
      const tag = token();
      const created: UserRecord[] = [];
      for (let i = 0; i < 25; i += 1) created.push(await repository.create(newUser({ displayName: `page ${tag} ${i}` })));
      const seen: UserRecord[] = [];
      let cursor: { createTime: Date; id: string } | undefined;
      for (let pages = 0; pages < 10; pages += 1) {
        const page = await repository.list({ limit: 10, query: tag, ...(cursor ? { after: cursor } : {}) });
        seen.push(...page);
        const last = page.at(-1);
        if (page.length < 10 || !last) break;
        cursor = { createTime: last.createTime, id: last.id };
      }
      assert.equal(seen.length, 25);
      assert.equal(new Set(seen.map((user) => user.id)).size, 25);
      const expected = [...created].sort(
        (a, b) => a.createTime.getTime() - b.createTime.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      );
      assert.deepEqual(
        seen.map((user) => user.id),
        expected.map((user) => user.id),
      );
    });

    it("filters by a literal, case-insensitive substring of email or display name", async () => {
      const tag = token();
      const percent = await repository.create(newUser({ displayName: `${tag}-50%-off` }));
      await repository.create(newUser({ displayName: `${tag}-50x-off` }));
      const underscore = await repository.create(newUser({ displayName: `${tag}-A_B` }));
      await repository.create(newUser({ displayName: `${tag}-axb` }));
      const backslash = await repository.create(newUser({ displayName: `${tag}-c\\d` }));
      await repository.create(newUser({ displayName: `${tag}-cd` }));
      const byEmail = await repository.create(newUser({ email: `mail-${tag}@example.com` }));

      const ids = async (query: string): Promise<string[]> => (await repository.list({ limit: 100, query })).map((user) => user.id);
      assert.deepEqual(await ids(`${tag}-50%`), [percent.id]);
      assert.deepEqual(await ids(`${tag}-a_b`), [underscore.id]);
      assert.deepEqual(await ids(`${tag}-C\\`), [backslash.id]);
      assert.deepEqual(await ids(`MAIL-${tag}`), [byEmail.id]);
      assert.equal((await ids(tag)).length, 7, "six by display name, one by email");
    });

    it("filters by role", async () => {
      const tag = token();
      const admin = await repository.create(newUser({ displayName: `${tag} admin`, roles: [1, 2] }));
      await repository.create(newUser({ displayName: `${tag} member`, roles: [1] }));
      await repository.create(newUser({ displayName: `${tag} nobody`, roles: [] }));
      const admins = await repository.list({ limit: 100, query: tag, role: 2 });
      assert.deepEqual(
        admins.map((user) => user.id),
        [admin.id],
      );
      assert.equal((await repository.list({ limit: 100, query: tag, role: 1 })).length, 2);
      assert.equal((await repository.list({ limit: 2, query: tag })).length, 2, "limit applies");
    });

    it("records every write in the change log, in order", async () => {
      const start = await repository.latestSequence();
      const created = await repository.create(newUser());
      const updated = await repository.update(created.id, { displayName: "changed" });
      const deleted = await repository.delete(created.id);
      const changes = (await repository.changesAfter(start, 1000)).filter((change) => change.user.id === created.id);
      assert.deepEqual(
        changes.map((change) => change.kind),
        ["created", "updated", "deleted"],
      );
      assert.deepEqual(changes[0]?.user, created);
      assert.deepEqual(changes[1]?.user, updated);
      assert.deepEqual(changes[2]?.user, deleted);
      for (const change of changes) {
        assert.equal(typeof change.sequence, "bigint");
        assert.ok(change.commitTime instanceof Date);
      }
      assert.ok((await repository.latestSequence()) >= (changes[2]?.sequence ?? 0n));
      assert.ok((await repository.oldestSequence()) <= (changes[0]?.sequence ?? 0n));

      const limited = await repository.changesAfter(start, 2);
      assert.equal(limited.length, 2);
      const afterFirst = await repository.changesAfter(limited[0]?.sequence ?? 0n, 1);
      assert.equal(afterFirst[0]?.sequence, limited[1]?.sequence);
    });

    it("logs concurrent writes exactly once each, in sequence order", async () => {
      const start = await repository.latestSequence();
      const inputs = Array.from({ length: 20 }, () => newUser());
      await Promise.all(inputs.map((input) => repository.create(input)));
      const ids = new Set(inputs.map((input) => input.id));
      const changes = (await repository.changesAfter(start, 10_000)).filter((change) => ids.has(change.user.id));
      assert.equal(changes.length, 20);
      assert.equal(new Set(changes.map((change) => change.user.id)).size, 20);
      for (let i = 1; i < changes.length; i += 1) {
        assert.ok((changes[i]?.sequence ?? 0n) > (changes[i - 1]?.sequence ?? 0n));
      }
    });

    it("reads snapshot pages in (createTime, id) order, each with the newest sequence it saw", async () => {
      for (let i = 0; i < 5; i += 1) await repository.create(newUser());
      const all = await repository.list({ limit: 1_000_000 });
      const latest = await repository.latestSequence();
      const seen: UserRecord[] = [];
      let after: { createTime: Date; id: string } | undefined;
      for (;;) {
        const page = await repository.snapshotPage(after, 2);
        assert.equal(page.sequence, latest);
        seen.push(...page.users);
        const last = page.users.at(-1);
        if (page.users.length < 2 || last === undefined) break;
        after = { createTime: last.createTime, id: last.id };
      }
      assert.deepEqual(
        seen.map((user) => user.id),
        all.map((user) => user.id),
      );
      const beyond = await repository.snapshotPage({ createTime: new Date(Date.UTC(9999, 0, 1)), id: randomUUID() }, 10);
      assert.deepEqual(beyond, { users: [], sequence: latest }, "an empty page still says where the log is");
    });

    it("reads each snapshot page as the state after its sequence, even during writes", async () => {
      const start = await repository.latestSequence();
      const inputs = Array.from({ length: 12 }, () => newUser());
      const writes = Promise.all(inputs.map((input) => repository.create(input)));
      const pages = await Promise.all([repository.snapshotPage(undefined, 1_000_000), repository.snapshotPage(undefined, 1_000_000)]);
      await writes;
      pages.push(await repository.snapshotPage(undefined, 1_000_000));
      const ids = new Set(inputs.map((input) => input.id));
      const changes = (await repository.changesAfter(start, 10_000)).filter((change) => ids.has(change.user.id));
      for (const page of pages) {
        const present = new Set(page.users.map((user) => user.id));
        for (const change of changes) assert.equal(present.has(change.user.id), change.sequence <= page.sequence);
      }
      assert.equal(pages.at(-1)?.sequence, await repository.latestSequence());
    });

    it("gives readSnapshot what it needs to stream a consistent snapshot while writes land between pages", async () => {
      // Created one by one so their keys ascend: they are the last users the pages reach.
      const mine: UserRecord[] = [];
      for (let i = 0; i < 9; i += 1) mine.push(await repository.create(newUser()));
      const read = new Set<string>();
      let rounds = 0;
      // After a page that held some of them: change one already read, delete one already read,
      // change one not read yet (its page must show it, not a change), create one.
      const interleaved: UserRepository = {
        ...repository,
        snapshotPage: async (after, limit) => {
          const page = await repository.snapshotPage(after, limit);
          const fresh = page.users.filter((user) => mine.some((m) => m.id === user.id));
          for (const user of fresh) read.add(user.id);
          if (fresh.length >= 2 && rounds < 2) {
            rounds += 1;
            await repository.update(fresh[0]!.id, { displayName: `changed ${rounds}` });
            await repository.delete(fresh[1]!.id);
            const unread = mine.find((user) => !read.has(user.id));
            if (unread) await repository.update(unread.id, { displayName: `ahead ${rounds}` });
            await repository.create(newUser());
          }
          return page;
        },
      };
      const state = new Map<string, UserRecord>();
      let end: bigint | undefined;
      for await (const item of readSnapshot(interleaved, new AbortController().signal, { pageSize: 4 })) {
        if (item.kind === "existing") {
          assert.ok(!state.has(item.user.id), "each user once among the existing ones");
          state.set(item.user.id, item.user);
        } else if (item.kind === "change") {
          // Only news: never a change the streamed state already shows.
          const known = state.get(item.change.user.id);
          if (item.change.kind === "created") assert.equal(known, undefined, "created twice");
          else
            assert.ok(
              known !== undefined && known.version <= item.change.user.version,
              `${item.change.kind} of a user not shown, or older than shown`,
            );
          if (item.change.kind === "updated")
            assert.ok((known?.version ?? 0) < item.change.user.version, "an update the page already showed");
          if (item.change.kind === "deleted") state.delete(item.change.user.id);
          else state.set(item.change.user.id, item.change.user);
        } else {
          end = item.sequence;
        }
      }
      assert.equal(rounds, 2, "writes landed between pages");
      assert.ok(end !== undefined);
      // The snapshot plus every change after its end is the current state, user for user.
      for (const change of await repository.changesAfter(end, 100_000)) {
        if (change.kind === "deleted") state.delete(change.user.id);
        else state.set(change.user.id, change.user);
      }
      const current = await repository.list({ limit: 1_000_000 });
      assert.deepEqual(
        [...state.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
        [...current].sort((a, b) => (a.id < b.id ? -1 : 1)),
      );
    });

    it("calls onCommit listeners after a commit, until unsubscribed", async () => {
      let calls = 0;
      let signal: () => void = () => {};
      const unsubscribe = repository.onCommit(() => {
        calls += 1;
        signal();
      });
      const fired = new Promise<void>((resolve) => {
        signal = resolve;
      });
      await repository.create(newUser());
      await fired;
      assert.ok(calls >= 1);
      unsubscribe();
      const before = calls;
      await repository.create(newUser());
      assert.equal(calls, before);
    });
  });
}
