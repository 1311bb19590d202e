import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, createClient, type Client, type RpcError, closeClient } from "@trellis/kit";
import { grpcFrame, rawGrpcCall, rpcFailure, startServiceProcess, type ServiceProcess } from "@trellis/kit/testing";
import { BadRequestSchema, ErrorInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import { ChangeType, UserService, type WatchUsersResponse } from "@trellis/api/trellis/user/v1/user_pb.js";
import { filterFingerprint } from "../internal/page-token.js";
import { USER_MAIN } from "./user-main.js";

/** A page token as the service encodes them (base64url JSON, format 1), with any fields. */
const NUL = "\u0000";

async function* rows<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}

/** The first event of a watch, or its error; the deadline only keeps a broken server from hanging the test. */
async function firstEvent(users: Client<typeof UserService>, resumeToken: string, signal?: AbortSignal): Promise<WatchUsersResponse> {
  for await (const event of users.watchUsers({ resumeToken }, { timeoutMs: 20_000, ...(signal ? { signal } : {}) })) return event;
  throw new Error("the watch ended without an event");
}

const forgedPageToken = (fields: Record<string, unknown>): string =>
  Buffer.from(
    JSON.stringify({ v: 1, t: Date.now(), i: "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b", f: filterFingerprint("", 0), ...fields }),
  ).toString("base64url");

describe("user process: hostile input is refused as the client's fault, never INTERNAL", () => {
  let service: ServiceProcess;
  let users: Client<typeof UserService>;

  before(async () => {
    service = await startServiceProcess(USER_MAIN);
    users = createClient(UserService, service.address);
    await users.createUser({ email: "present@example.com", displayName: "Present" });
  });
  after(async () => {
    closeClient(users);
    await service?.stop();
  });

  describe("forged ListUsers page tokens", () => {
    for (const [name, fields] of [
      ["a time of 1e300", { t: 1e300 }],
      ["a time of -1e300", { t: -1e300 }],
      ["a time after year 9999", { t: Date.UTC(10_000, 0, 1) }],
      ["a fractional time", { t: 0.5 }],
      ["a time as a string", { t: "now" }],
      ["an id that is not a UUID", { i: "x' OR '1'='1" }],
    ] as const) {
      it(`answers ${name} with INVALID_ARGUMENT naming page_token`, async () => {
        const error = await rpcFailure(users.listUsers({ pageToken: forgedPageToken(fields) }));
        assert.equal(error.code, Code.INVALID_ARGUMENT, error.message);
        assert.equal(error.findDetail(BadRequestSchema)?.fieldViolations[0]?.field, "page_token");
      });
    }

    it("still pages with the tokens it issues", async () => {
      await users.createUser({ email: "second@example.com", displayName: "Second" });
      const first = await users.listUsers({ pageSize: 1 });
      assert.notEqual(first.nextPageToken, "");
      const second = await users.listUsers({ pageSize: 1, pageToken: first.nextPageToken });
      assert.equal(second.users.length, 1);
      assert.notEqual(second.users[0]?.id, first.users[0]?.id);
    });
  });

  describe("WatchUsers resume tokens the change log cannot serve", () => {
    /** The resume token of the newest change: where a snapshot ends (nothing else writes meanwhile). */
    const newestToken = async (): Promise<string> => {
      for await (const event of users.watchUsers({ includeSnapshot: true }, { timeoutMs: 20_000 })) {
        if (event.type === ChangeType.SNAPSHOT_END) return event.resumeToken;
      }
      throw new Error("the snapshot ended without SNAPSHOT_END");
    };

    it("answers a token ahead of the newest change with OUT_OF_RANGE and ErrorInfo RESUME_TOKEN_AHEAD", async () => {
      const newest = await newestToken();
      const ahead = (BigInt(newest) + 1_000n).toString();
      const error = await rpcFailure(firstEvent(users, ahead));
      assert.equal(error.code, Code.OUT_OF_RANGE, error.message);
      const info = error.findDetail(ErrorInfoSchema);
      assert.equal(info?.reason, "RESUME_TOKEN_AHEAD");
      assert.ok(BigInt(info?.metadata["latest_resume_token"] ?? "0") >= BigInt(newest));
    });

    for (const token of ["9223372036854775808", "9999999999999999999"]) {
      it(`answers ${token} (beyond 64 bits) with INVALID_ARGUMENT naming resume_token`, async () => {
        const error = await rpcFailure(firstEvent(users, token));
        assert.equal(error.code, Code.INVALID_ARGUMENT, error.message);
        assert.equal(error.findDetail(BadRequestSchema)?.fieldViolations[0]?.field, "resume_token");
      });
    }

    it("resumes from the newest change and delivers the next one", async () => {
      const newest = await newestToken();
      const controller = new AbortController();
      const next = firstEvent(users, newest, controller.signal);
      const { user } = await users.createUser({ email: `after.${Date.now()}@example.com`, displayName: "After" });
      const event = await next;
      controller.abort();
      assert.equal(event.type, ChangeType.CREATED);
      assert.equal(event.user?.id, user?.id);
      assert.equal(BigInt(event.resumeToken), BigInt(newest) + 1n);
    });
  });

  describe("NUL characters in text fields (PostgreSQL text cannot hold them)", () => {
    const fieldsOf = (error: RpcError): string[] => error.findDetail(BadRequestSchema)?.fieldViolations.map((v) => v.field) ?? [];
    const count = async (query: string): Promise<number> => (await users.listUsers({ query, pageSize: 1000 })).users.length;

    it("CreateUser: answers a NUL in the display name with INVALID_ARGUMENT naming display_name, and stores nothing", async () => {
      const error = await rpcFailure(users.createUser({ email: "nul.create@example.com", displayName: `Nul${NUL}Name` }));
      assert.equal(error.code, Code.INVALID_ARGUMENT, error.message);
      assert.deepEqual(fieldsOf(error), ["display_name"]);
      assert.equal(await count("nul.create"), 0);
    });

    it("UpdateUser: answers a NUL in the display name with INVALID_ARGUMENT naming user.display_name, and changes nothing", async () => {
      const { user } = await users.createUser({ email: "nul.update@example.com", displayName: "Before" });
      const error = await rpcFailure(
        users.updateUser({ user: { id: user!.id, displayName: `After${NUL}` }, updateMask: { paths: ["display_name"] } }),
      );
      assert.equal(error.code, Code.INVALID_ARGUMENT, error.message);
      assert.deepEqual(fieldsOf(error), ["user.display_name"]);
      assert.equal((await users.getUser({ id: user!.id })).user?.displayName, "Before");
    });

    it("ListUsers: answers a NUL in the query with INVALID_ARGUMENT naming query", async () => {
      const error = await rpcFailure(users.listUsers({ query: `present${NUL}` }));
      assert.equal(error.code, Code.INVALID_ARGUMENT, error.message);
      assert.deepEqual(fieldsOf(error), ["query"]);
    });

    it("ImportUsers: a row with a NUL is a failure in the summary, and the import goes on", async () => {
      const summary = await users.importUsers(
        rows([
          { email: "nul.import.0@example.com", displayName: "Zero" },
          { email: "nul.import.1@example.com", displayName: `One${NUL}` },
          { email: `nul.import.2${NUL}@example.com`, displayName: "Two" },
          { email: "nul.import.3@example.com", displayName: "Three" },
        ]),
      );
      assert.deepEqual(
        { received: summary.receivedCount, created: summary.createdCount, failed: summary.failedCount },
        { received: 4, created: 2, failed: 2 },
      );
      assert.deepEqual(
        summary.failures.map((f) => [f.index, f.code]),
        [
          [1, Code.INVALID_ARGUMENT],
          [2, Code.INVALID_ARGUMENT],
        ],
      );
      assert.match(summary.failures[0]?.message ?? "", /display_name/);
      assert.match(summary.failures[1]?.message ?? "", /email/);
      assert.deepEqual(
        (await users.listUsers({ query: "nul.import" })).users.map((u) => u.displayName),
        ["Zero", "Three"],
      );
    });

    it("ImportUsers: a row that is not valid UTF-8 ends the import with INVALID_ARGUMENT (the decoder's), not INTERNAL", async () => {
      const email = Buffer.from("utf8@example.com");
      const row = Buffer.concat([Buffer.from([0x0a, email.length]), email, Buffer.from([0x12, 0x02, 0xff, 0xfe])]);
      const outcome = await rawGrpcCall(service.address, "/trellis.user.v1.UserService/ImportUsers", { body: [grpcFrame(row)] });
      assert.equal(outcome.grpcStatus, Code.INVALID_ARGUMENT, outcome.grpcMessage);
      assert.equal(await count("utf8@"), 0);
    });
  });
});
