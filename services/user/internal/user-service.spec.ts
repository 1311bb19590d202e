import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { toBinary, create, fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@trellis/kit";
import { grpcFrame, rawGrpcCall, startTestServer, waitFor, type TestServer, rpcFailure } from "@trellis/kit/testing";
import { BadRequestSchema, ErrorInfoSchema, RequestInfoSchema, ResourceInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "@trellis/kit/gen/google/rpc/status_pb.js";
import {
  ChangeType,
  CreateUserRequestSchema,
  ListUsersRequestSchema,
  Role,
  UserService,
  type WatchUsersResponse,
} from "@trellis/api/trellis/user/v1/user_pb.js";
import { openUserRepository } from "../repository/open-user-repository.js";
import { createChangeFeed, type ChangeFeed } from "./change-feed.js";
import { createSnapshotLimiter } from "./snapshot-limiter.js";
import { createUserHandlers } from "./user-handlers.js";
import { EmailTakenError } from "./user-errors.js";
import type { UserRepository } from "./user-repository.js";

async function* rows<T>(items: readonly T[], pauseMs = 0): AsyncIterable<T> {
  for (const item of items) {
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    yield item;
  }
}

/** Reads `count` messages from a stream and keeps the iterator open. */
async function take(iterator: AsyncIterator<WatchUsersResponse>, count: number): Promise<WatchUsersResponse[]> {
  const out: WatchUsersResponse[] = [];
  while (out.length < count) {
    const next = await iterator.next();
    if (next.done === true) break;
    out.push(next.value);
  }
  return out;
}

/** Reads a watch in the background into `events` until its signal aborts. */
function collect(stream: AsyncIterable<WatchUsersResponse>): { readonly events: WatchUsersResponse[] } {
  const events: WatchUsersResponse[] = [];
  void (async () => {
    for await (const event of stream) events.push(event);
  })().catch(() => undefined); // ended by the test's abort
  return { events };
}

/** The RequestInfo request id of a serialized google.rpc.Status. */
function requestIdOf(statusDetails: Uint8Array | undefined): string | undefined {
  if (statusDetails === undefined) return undefined;
  for (const detail of fromBinary(StatusSchema, statusDetails).details) {
    const info = anyUnpack(detail, RequestInfoSchema);
    if (info !== undefined) return info.requestId;
  }
  return undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let unique = 0;
const email = (label = "u"): string => `${label}.${process.pid}.${(unique += 1)}@example.com`;

describe("UserService over gRPC (embedded PGlite)", () => {
  let repository: UserRepository;
  let feed: ChangeFeed;
  let t: TestServer;
  let users: Client<typeof UserService>;

  before(async () => {
    repository = await openUserRepository({ pgliteDataDir: "memory://" });
    feed = createChangeFeed(repository, { pollIntervalMs: 200 });
    t = await startTestServer((server) => server.addService(UserService, createUserHandlers({ repository, feed, maxPageSize: 20 })), {
      maxReceiveMessageBytes: 1024 * 1024,
    });
    users = t.client(UserService);
  });
  after(async () => {
    await t.close();
    await feed.close();
    await repository.close();
  });

  const countRows = async (): Promise<number> => (await repository.list({ limit: 100_000 })).length;

  describe("CreateUser / GetUser", () => {
    it("creates a user with normalised fields and reads it back", async () => {
      const { user } = await users.createUser({ email: "Grace@Example.COM", displayName: " Grace ", roles: [Role.ADMIN] });
      assert.ok(user);
      assert.equal(user.email, "grace@example.com");
      assert.equal(user.displayName, "Grace");
      assert.deepEqual(user.roles, [Role.ADMIN]);
      assert.match(user.etag, /^v\d+$/);
      const read = await users.getUser({ id: user.id });
      assert.deepEqual(read.user, user);
    });

    it("gives new users the member role by default", async () => {
      const { user } = await users.createUser({ email: email(), displayName: "Default" });
      assert.deepEqual(user?.roles, [Role.MEMBER]);
    });

    it("answers a duplicate email (any case) with ALREADY_EXISTS and ErrorInfo EMAIL_TAKEN", async () => {
      const address = email("dup");
      await users.createUser({ email: address, displayName: "First" });
      const before = await countRows();
      const error = await rpcFailure(users.createUser({ email: address.toUpperCase(), displayName: "Second" }));
      assert.equal(error.code, Code.ALREADY_EXISTS);
      assert.equal(error.findDetail(ErrorInfoSchema)?.reason, "EMAIL_TAKEN");
      assert.equal(await countRows(), before);
    });

    it("answers an unknown id with NOT_FOUND and ResourceInfo", async () => {
      const id = randomUUID();
      const error = await rpcFailure(users.getUser({ id }));
      assert.equal(error.code, Code.NOT_FOUND);
      assert.equal(error.findDetail(ResourceInfoSchema)?.resourceName, id);
    });

    it("answers bad input with INVALID_ARGUMENT naming each field, and stores nothing", async () => {
      const before = await countRows();
      const error = await rpcFailure(users.createUser({ email: "not-an-email", displayName: "", roles: [Role.UNSPECIFIED] }));
      assert.equal(error.code, Code.INVALID_ARGUMENT);
      const fields = error
        .findDetail(BadRequestSchema)
        ?.fieldViolations.map((v) => v.field)
        .sort();
      assert.deepEqual(fields, ["display_name", "email", "roles[0]"]);
      assert.equal((await rpcFailure(users.getUser({ id: "not-a-uuid" }))).code, Code.INVALID_ARGUMENT);
      assert.equal((await rpcFailure(users.getUser({ id: "" }))).code, Code.INVALID_ARGUMENT);
      assert.equal(await countRows(), before);
    });

    it("refuses an email with surrounding spaces instead of trimming it", async () => {
      const before = await countRows();
      const error = await rpcFailure(users.createUser({ email: ` ${email("spaced")} `, displayName: "Spaced" }));
      assert.equal(error.code, Code.INVALID_ARGUMENT);
      assert.deepEqual(
        error.findDetail(BadRequestSchema)?.fieldViolations.map((v) => v.field),
        ["email"],
      );
      assert.equal(await countRows(), before);
    });

    it("rejects huge strings with INVALID_ARGUMENT and oversize messages with RESOURCE_EXHAUSTED", async () => {
      const before = await countRows();
      const huge = await rpcFailure(users.createUser({ email: email(), displayName: "x".repeat(100_000) }));
      assert.equal(huge.code, Code.INVALID_ARGUMENT);
      const oversize = await rpcFailure(users.createUser({ email: email(), displayName: "x".repeat(2 * 1024 * 1024) }));
      assert.equal(oversize.code, Code.RESOURCE_EXHAUSTED);
      assert.equal(await countRows(), before);
      assert.ok((await users.createUser({ email: email(), displayName: "after" })).user, "still serving");
    });
  });

  describe("UpdateUser / DeleteUser", () => {
    it("updates the masked fields when the etag matches, and changes the etag", async () => {
      const { user } = await users.createUser({ email: email(), displayName: "Before", roles: [Role.MEMBER] });
      assert.ok(user);
      const { user: updated } = await users.updateUser({
        user: { id: user.id, displayName: "After", email: "ignored@example.com", etag: user.etag },
        updateMask: { paths: ["display_name"] },
      });
      assert.equal(updated?.displayName, "After");
      assert.equal(updated?.email, user.email, "fields outside the mask are unchanged");
      assert.notEqual(updated?.etag, user.etag);
    });

    it("answers a stale etag with ABORTED and leaves the row unchanged", async () => {
      const { user } = await users.createUser({ email: email(), displayName: "V1" });
      assert.ok(user);
      await users.updateUser({ user: { id: user.id, displayName: "V2", etag: user.etag }, updateMask: { paths: ["display_name"] } });
      const error = await rpcFailure(
        users.updateUser({ user: { id: user.id, displayName: "V3", etag: user.etag }, updateMask: { paths: ["display_name"] } }),
      );
      assert.equal(error.code, Code.ABORTED);
      assert.equal(error.findDetail(ErrorInfoSchema)?.reason, "ETAG_MISMATCH");
      const current = await users.getUser({ id: user.id });
      assert.equal(current.user?.displayName, "V2");
      assert.equal(error.findDetail(ErrorInfoSchema)?.metadata["current_etag"], current.user?.etag, "the error names the current etag");
    });

    it("answers an update to a taken email with ALREADY_EXISTS, and an unknown id with NOT_FOUND", async () => {
      const taken = email("taken");
      await users.createUser({ email: taken, displayName: "Owner" });
      const { user } = await users.createUser({ email: email(), displayName: "Other" });
      assert.ok(user);
      const clash = await rpcFailure(users.updateUser({ user: { id: user.id, email: taken }, updateMask: { paths: ["email"] } }));
      assert.equal(clash.code, Code.ALREADY_EXISTS);
      const missing = await rpcFailure(
        users.updateUser({ user: { id: randomUUID(), displayName: "x" }, updateMask: { paths: ["display_name"] } }),
      );
      assert.equal(missing.code, Code.NOT_FOUND);
    });

    it("answers a bad mask, a garbage etag or a missing user field with INVALID_ARGUMENT", async () => {
      const { user } = await users.createUser({ email: email(), displayName: "Masked" });
      assert.ok(user);
      const badPath = await rpcFailure(users.updateUser({ user: { id: user.id }, updateMask: { paths: ["id"] } }));
      assert.equal(badPath.code, Code.INVALID_ARGUMENT);
      const badEtag = await rpcFailure(
        users.updateUser({ user: { id: user.id, displayName: "x", etag: 'W/"nope"' }, updateMask: { paths: ["display_name"] } }),
      );
      assert.equal(badEtag.code, Code.INVALID_ARGUMENT);
      assert.equal((await rpcFailure(users.updateUser({ updateMask: { paths: ["display_name"] } }))).code, Code.INVALID_ARGUMENT);
      assert.equal((await users.getUser({ id: user.id })).user?.etag, user.etag, "nothing changed");
    });

    it("deletes a user (etag checked when given), then answers NOT_FOUND", async () => {
      const { user } = await users.createUser({ email: email(), displayName: "Doomed" });
      assert.ok(user);
      await users.updateUser({ user: { id: user.id, displayName: "Doomed 2" }, updateMask: { paths: ["display_name"] } });
      assert.equal((await rpcFailure(users.deleteUser({ id: user.id, etag: user.etag }))).code, Code.ABORTED);
      await users.deleteUser({ id: user.id });
      assert.equal((await rpcFailure(users.getUser({ id: user.id }))).code, Code.NOT_FOUND);
      assert.equal((await rpcFailure(users.deleteUser({ id: user.id }))).code, Code.NOT_FOUND);
    });
  });

  describe("ListUsers", () => {
    const tag = `list${process.pid}`;
    before(async () => {
      for (let i = 0; i < 7; i += 1) {
        await users.createUser({
          email: `${tag}.${i}@example.com`,
          displayName: `Lister ${i}`,
          roles: i % 2 === 0 ? [Role.MODERATOR] : [Role.MEMBER],
        });
      }
    });

    it("pages through a query in creation order with no gaps or repeats", async () => {
      const seen: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await users.listUsers({ query: tag, pageSize: 3, pageToken });
        seen.push(...page.users.map((u) => u.email));
        pageToken = page.nextPageToken;
        pages += 1;
      } while (pageToken !== "");
      assert.equal(pages, 3);
      assert.deepEqual(
        seen,
        [0, 1, 2, 3, 4, 5, 6].map((i) => `${tag}.${i}@example.com`),
      );
    });

    it("filters by role", async () => {
      const page = await users.listUsers({ query: tag, role: Role.MODERATOR });
      assert.deepEqual(
        page.users.map((u) => u.displayName),
        ["Lister 0", "Lister 2", "Lister 4", "Lister 6"],
      );
    });

    it("treats % and _ in the query as text", async () => {
      assert.equal((await users.listUsers({ query: "%" })).users.length, 0);
    });

    it("lowers an over-large page size to the maximum (20 here)", async () => {
      const capped = `cap${process.pid}`;
      const rows = Array.from({ length: 25 }, (_, i) => ({ email: `${capped}.${i}@example.com`, displayName: `Capped ${i}` }));
      assert.equal(
        (
          await users.importUsers(
            (async function* () {
              yield* rows;
            })(),
          )
        ).createdCount,
        25,
      );
      const page = await users.listUsers({ query: capped, pageSize: 5000 });
      assert.equal(page.users.length, 20);
      const rest = await users.listUsers({ query: capped, pageSize: 5000, pageToken: page.nextPageToken });
      assert.equal(rest.users.length, 5);
      assert.equal(rest.nextPageToken, "");
    });

    it("answers a negative page size, a garbage token, or a token from another query with INVALID_ARGUMENT", async () => {
      assert.equal((await rpcFailure(users.listUsers({ pageSize: -1 }))).code, Code.INVALID_ARGUMENT);
      assert.equal((await rpcFailure(users.listUsers({ pageToken: "garbage" }))).code, Code.INVALID_ARGUMENT);
      const first = await users.listUsers({ query: tag, pageSize: 2 });
      const replay = await rpcFailure(users.listUsers({ query: "other", pageToken: first.nextPageToken }));
      assert.equal(replay.code, Code.INVALID_ARGUMENT);
      const moderators = await users.listUsers({ query: tag, role: Role.MODERATOR, pageSize: 1 });
      const otherRole = await rpcFailure(users.listUsers({ query: tag, role: Role.MEMBER, pageToken: moderators.nextPageToken }));
      assert.equal(otherRole.code, Code.INVALID_ARGUMENT, "a token is bound to its role too");
    });
  });

  describe("WatchUsers", () => {
    it("streams a snapshot, then every change in commit order, to every watcher", async () => {
      const { user: existing } = await users.createUser({ email: email("snap"), displayName: "Existing" });
      assert.ok(existing);
      const controller = new AbortController();
      try {
        const a = collect(users.watchUsers({ includeSnapshot: true }, { signal: controller.signal }));
        const b = collect(users.watchUsers({}, { signal: controller.signal }));
        await waitFor(() => a.events.some((e) => e.type === ChangeType.SNAPSHOT_END), "a's snapshot ended");
        const end = a.events.findIndex((e) => e.type === ChangeType.SNAPSHOT_END);
        assert.ok(a.events.slice(0, end).some((e) => e.type === ChangeType.EXISTING && e.user?.id === existing.id));
        // A watch without a snapshot sees what commits after it started: probe until b shows one.
        const probes = new Set<string>();
        await waitFor(
          async () => {
            probes.add((await users.createUser({ email: email("probe"), displayName: "Probe" })).user!.id);
            return b.events.some((e) => probes.has(e.user?.id ?? ""));
          },
          "the plain watch delivers what commits once it started",
          { intervalMs: 100 },
        );
        const { user: created } = await users.createUser({ email: email("live"), displayName: "Live" });
        assert.ok(created);
        await users.updateUser({ user: { id: created.id, displayName: "Live 2" }, updateMask: { paths: ["display_name"] } });
        await users.deleteUser({ id: created.id });
        for (const watcher of [a, b]) {
          const about = (): WatchUsersResponse[] => watcher.events.filter((e) => e.user?.id === created.id);
          await waitFor(() => about().length >= 3, "every watcher gets the three changes");
          const events = about();
          assert.deepEqual(
            events.map((e) => e.type),
            [ChangeType.CREATED, ChangeType.UPDATED, ChangeType.DELETED],
          );
          assert.deepEqual(
            events.map((e) => e.user?.displayName),
            ["Live", "Live 2", "Live 2"],
          );
          const tokens = events.map((e) => BigInt(e.resumeToken));
          assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!);
        }
      } finally {
        controller.abort();
      }
    });

    it("resumes after a token without losing or repeating changes", async () => {
      const controller = new AbortController();
      // After SNAPSHOT_END a snapshot watch delivers every later change: R1 is its next event.
      const watcher = users.watchUsers({ includeSnapshot: true }, { signal: controller.signal })[Symbol.asyncIterator]();
      for (let next = await watcher.next(); next.value?.type !== ChangeType.SNAPSHOT_END; next = await watcher.next()) {
        assert.equal(next.done, false, "the snapshot ends");
      }
      await users.createUser({ email: email("r1"), displayName: "R1" });
      const [first] = await take(watcher, 1);
      assert.equal(first?.user?.displayName, "R1");
      controller.abort();
      await users.createUser({ email: email("r2"), displayName: "R2" });
      await users.createUser({ email: email("r3"), displayName: "R3" });
      const resumed = new AbortController();
      const again = users.watchUsers({ resumeToken: first!.resumeToken }, { signal: resumed.signal })[Symbol.asyncIterator]();
      assert.deepEqual(
        (await take(again, 2)).map((e) => e.user?.displayName),
        ["R2", "R3"],
      );
      resumed.abort();
    });

    it("ends a snapshot that holds its slot too long with RESOURCE_EXHAUSTED, and frees the slot", async () => {
      await users.createUser({ email: email("slow1"), displayName: "Slow 1" });
      await users.createUser({ email: email("slow2"), displayName: "Slow 2" });
      const expire: (() => void)[] = [];
      const snapshots = createSnapshotLimiter({
        maxConcurrent: 1,
        maxHoldMs: 60_000,
        timers: { setTimeout: (callback) => expire.push(callback), clearTimeout: () => undefined },
      });
      const own = await startTestServer((server) =>
        server.addService(UserService, createUserHandlers({ repository, feed, snapshots, snapshotPageSize: 1 })),
      );
      try {
        const error = await rpcFailure(
          (async () => {
            for await (const event of own.client(UserService).watchUsers({ includeSnapshot: true })) {
              if (event.type === ChangeType.EXISTING) for (const fire of expire.splice(0)) fire();
            }
          })(),
        );
        assert.equal(error.code, Code.RESOURCE_EXHAUSTED, error.message);
        assert.equal(error.findDetail(ErrorInfoSchema)?.reason, "SNAPSHOT_TOO_SLOW");
        assert.equal(snapshots.active, 0);
      } finally {
        await own.close();
      }
    });

    it("answers a resume token older than the kept history with OUT_OF_RANGE and ErrorInfo RESUME_TOKEN_EXPIRED", async () => {
      const small = await openUserRepository({ pgliteDataDir: "memory://" }, { retainChanges: 2, pruneEvery: 1 });
      const smallFeed = createChangeFeed(small);
      const own = await startTestServer((server) =>
        server.addService(UserService, createUserHandlers({ repository: small, feed: smallFeed })),
      );
      try {
        const watch = own.client(UserService);
        for (let i = 0; i < 4; i += 1) await watch.createUser({ email: email("gone"), displayName: "Gone" });
        const error = await rpcFailure(
          (async () => {
            for await (const _ of watch.watchUsers({ resumeToken: "1" })) void _;
          })(),
        );
        assert.equal(error.code, Code.OUT_OF_RANGE, error.message);
        assert.equal(error.findDetail(ErrorInfoSchema)?.reason, "RESUME_TOKEN_EXPIRED");
      } finally {
        await own.close();
        await smallFeed.close();
        await small.close();
      }
    });

    it("ends a snapshot with ABORTED and ErrorInfo SNAPSHOT_OVERRUN when more changes commit during it than the log keeps", async () => {
      await users.createUser({ email: email("overrun"), displayName: "Overrun 1" });
      await users.createUser({ email: email("overrun"), displayName: "Overrun 2" });
      let pages = 0;
      const pruning: UserRepository = {
        ...repository,
        // Between the first and second page, a change commits and the log moves beyond it.
        snapshotPage: async (after, limit) => {
          const page = await repository.snapshotPage(after, limit);
          pages += 1;
          if (pages === 1) await repository.update(page.users[0]!.id, { displayName: "changed meanwhile" });
          return page;
        },
        oldestSequence: async () => (await repository.latestSequence()) + 1n,
      };
      const own = await startTestServer((server) =>
        server.addService(UserService, createUserHandlers({ repository: pruning, feed, snapshotPageSize: 1 })),
      );
      try {
        const error = await rpcFailure(
          (async () => {
            for await (const _ of own.client(UserService).watchUsers({ includeSnapshot: true })) void _;
          })(),
        );
        assert.equal(error.code, Code.ABORTED, error.message);
        assert.equal(error.findDetail(ErrorInfoSchema)?.reason, "SNAPSHOT_OVERRUN");
      } finally {
        await own.close();
      }
    });

    it("answers a garbage resume token with INVALID_ARGUMENT", async () => {
      const error = await rpcFailure(
        (async () => {
          for await (const _ of users.watchUsers({ resumeToken: "yesterday" })) void _;
        })(),
      );
      assert.equal(error.code, Code.INVALID_ARGUMENT);
    });

    it("ends with DEADLINE_EXCEEDED when the client's deadline passes mid-stream", async () => {
      const received: WatchUsersResponse[] = [];
      const error = await rpcFailure(
        (async () => {
          for await (const event of users.watchUsers({ includeSnapshot: true }, { timeoutMs: 3_000 })) received.push(event);
        })(),
      );
      assert.equal(error.code, Code.DEADLINE_EXCEEDED);
      assert.ok(
        received.some((e) => e.type === ChangeType.SNAPSHOT_END),
        "events arrived before the deadline",
      );
    });

    it("stops the server-side watch when the client cancels mid-stream", async () => {
      const controller = new AbortController();
      const requestId = `cancel-${randomUUID()}`;
      const watcher = users.watchUsers({ includeSnapshot: true }, { signal: controller.signal, headers: { "x-request-id": requestId } });
      await assert.rejects(async () => {
        for await (const event of watcher) if (event.type === ChangeType.SNAPSHOT_END) controller.abort();
      });
      const line = (): Record<string, unknown> | undefined =>
        t.logs.find((l) => l["http.request.id"] === requestId && l["grpc.code"] !== undefined);
      await waitFor(() => line() !== undefined, "the watch's access line was logged");
      assert.equal(line()?.["grpc.code"], "CANCELLED");
    });
  });

  describe("ImportUsers", () => {
    it("creates the good rows and reports each bad one with its index and code", async () => {
      const taken = email("imp-taken");
      await users.createUser({ email: taken, displayName: "Already" });
      const summary = await users.importUsers(
        rows([
          { email: email("imp"), displayName: "One" },
          { email: "broken", displayName: "Two" },
          { email: taken, displayName: "Three" },
          { email: email("imp"), displayName: "Four", roles: [Role.ADMIN] },
          { email: email("imp"), displayName: "   " },
        ]),
      );
      assert.equal(summary.receivedCount, 5);
      assert.equal(summary.createdCount, 2);
      assert.equal(summary.failedCount, 3);
      assert.deepEqual(
        summary.failures.map((f) => [f.index, f.code]),
        [
          [1, Code.INVALID_ARGUMENT],
          [2, Code.ALREADY_EXISTS],
          [4, Code.INVALID_ARGUMENT],
        ],
      );
    });

    it("waits for an event-loop turn every importRowsPerTurn rows, invalid rows included", async () => {
      let turns = 0;
      const own = await startTestServer((server) =>
        server.addService(
          UserService,
          createUserHandlers({ repository, feed, importRowsPerTurn: 3, nextTurn: async () => void (turns += 1) }),
        ),
      );
      try {
        const summary = await own
          .client(UserService)
          .importUsers(rows(Array.from({ length: 10 }, (_, i) => ({ email: `not-an-email-${i}`, displayName: "Bad" }))));
        assert.equal(summary.failedCount, 10);
        assert.equal(turns, 3);
      } finally {
        await own.close();
      }
    });

    it("answers an empty import with an empty summary", async () => {
      const summary = await users.importUsers(rows([]));
      assert.equal(summary.receivedCount, 0);
    });

    it("lists the first 1,000 failures and counts the rest", async () => {
      const bad = Array.from({ length: 1001 }, (_, i) => ({ email: `not-an-email-${i}`, displayName: "Bad" }));
      const summary = await users.importUsers(rows(bad));
      assert.equal(summary.failedCount, 1001);
      assert.equal(summary.failures.length, 1000);
      assert.equal(summary.failures[999]?.index, 999);
    });

    it("waits for an event-loop turn every 100 rows by default", async () => {
      let turns = 0;
      const own = await startTestServer((server) =>
        server.addService(UserService, createUserHandlers({ repository, feed, nextTurn: async () => void (turns += 1) })),
      );
      try {
        const bad = Array.from({ length: 250 }, (_, i) => ({ email: `not-an-email-${i}`, displayName: "Bad" }));
        assert.equal((await own.client(UserService).importUsers(rows(bad))).failedCount, 250);
        assert.equal(turns, 2);
      } finally {
        await own.close();
      }
    });

    it("cuts a failure's message to 1 KiB in the summary", async () => {
      const longWinded: UserRepository = {
        ...repository,
        create: async () => {
          throw new EmailTakenError(`${"x".repeat(5000)}@example.com`);
        },
      };
      const own = await startTestServer((server) => server.addService(UserService, createUserHandlers({ repository: longWinded, feed })));
      try {
        const summary = await own.client(UserService).importUsers(rows([{ email: email("long"), displayName: "Long" }]));
        assert.equal(summary.failures[0]?.code, Code.ALREADY_EXISTS);
        const message = summary.failures[0]?.message ?? "";
        assert.ok(message.startsWith("email xxx") && message.length <= 1024, `${message.length} characters`);
      } finally {
        await own.close();
      }
    });

    it("ends the import with INTERNAL on a storage failure, keeping the rows before it", async () => {
      let created = 0;
      const failing: UserRepository = {
        ...repository,
        create: async (user) => {
          if (created === 2) throw new Error("disk on fire");
          created += 1;
          return repository.create(user);
        },
      };
      const own = await startTestServer((server) => server.addService(UserService, createUserHandlers({ repository: failing, feed })));
      try {
        const tag = email("storage");
        const error = await rpcFailure(
          own.client(UserService).importUsers(rows([0, 1, 2, 3].map((i) => ({ email: `${i}.${tag}`, displayName: "Stored" })))),
        );
        assert.equal(error.code, Code.INTERNAL);
        assert.equal(error.message, "internal error");
        assert.equal((await users.listUsers({ query: tag })).users.length, 2, "the rows before the failure stay created");
      } finally {
        await own.close();
      }
    });
  });

  describe("hostile bytes and headers", () => {
    it("answers malformed protobuf with INVALID_ARGUMENT and stores nothing", async () => {
      const before = await countRows();
      const outcome = await rawGrpcCall(t.address, "/trellis.user.v1.UserService/CreateUser", {
        body: [grpcFrame(Buffer.from([0x0a, 0x05, 0x61]))],
      });
      assert.equal(outcome.grpcStatus, Code.INVALID_ARGUMENT);
      const wrongType =
        Buffer.from(toBinary(CreateUserRequestSchema, create(CreateUserRequestSchema, {}))).length === 0
          ? Buffer.from([0x08, 0x96, 0x01]) // field 1 (email, a string) sent as a varint
          : Buffer.alloc(0);
      const wrong = await rawGrpcCall(t.address, "/trellis.user.v1.UserService/CreateUser", { body: [grpcFrame(wrongType)] });
      assert.equal(wrong.grpcStatus, Code.INVALID_ARGUMENT);
      assert.equal(await countRows(), before);
    });

    it("answers an unknown method with UNIMPLEMENTED", async () => {
      const outcome = await rawGrpcCall(t.address, "/trellis.user.v1.UserService/DropAllTables", { body: [grpcFrame(Buffer.alloc(0))] });
      assert.equal(outcome.grpcStatus, Code.UNIMPLEMENTED);
    });

    it("replaces a request id with invalid characters by a generated one, and serves a non-ASCII header value", async () => {
      // A negative page size fails validation, so the status carries the call's RequestInfo.
      const body = [grpcFrame(toBinary(ListUsersRequestSchema, create(ListUsersRequestSchema, { pageSize: -1 })))];
      for (const hostile of ["\u00ff\u00fe<script>", "<script>alert(1)</script>", "id with spaces", "x".repeat(129)]) {
        const outcome = await rawGrpcCall(t.address, "/trellis.user.v1.UserService/ListUsers", {
          body,
          headers: { "x-request-id": hostile, "x-note": "caf\u00e9 \u00ff" },
        });
        assert.equal(outcome.grpcStatus, Code.INVALID_ARGUMENT, outcome.grpcMessage);
        const generated = requestIdOf(outcome.statusDetails);
        assert.match(generated ?? "", UUID, `the status names a generated request id instead of ${JSON.stringify(hostile)}`);
        await waitFor(
          () => t.logs.some((l) => l["http.request.id"] === generated && l["rpc.method"] === "trellis.user.v1.UserService/ListUsers"),
          "the access line carries the generated id",
        );
      }
      assert.ok(!t.logs.some((l) => /<script>|id with spaces|x{129}/.test(JSON.stringify(l))), "no hostile id reached a log line");
      // A well-formed id is kept, so the one above was replaced because it was hostile.
      const kept = await rawGrpcCall(t.address, "/trellis.user.v1.UserService/ListUsers", {
        body,
        headers: { "x-request-id": "req-42.a:b_c" },
      });
      assert.equal(requestIdOf(kept.statusDetails), "req-42.a:b_c");
      assert.ok((await users.listUsers({ pageSize: 1 })).users, "still serving");
    });
  });
});

describe("UserService shutdown", () => {
  it("drains an in-flight import before closing, so no row is lost", async () => {
    const repository = await openUserRepository({ pgliteDataDir: "memory://" });
    const feed = createChangeFeed(repository);
    const t = await startTestServer((server) => server.addService(UserService, createUserHandlers({ repository, feed })));
    const users = t.client(UserService);
    const batch = Array.from({ length: 5 }, (_, i) => ({ email: `drain${i}@example.com`, displayName: `Drain ${i}` }));
    const importing = users.importUsers(rows(batch, 60));
    await waitFor(async () => (await repository.list({ limit: 100 })).length > 0, "the import is under way");
    const stopped = t.server.shutdown();
    const summary = await importing;
    await stopped;
    assert.equal(summary.createdCount, 5);
    assert.equal((await repository.list({ limit: 100 })).length, 5);
    await t.close();
    await feed.close();
    await repository.close();
  });
});
