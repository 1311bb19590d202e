import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { constants as http2 } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, createClient, type Client, closeClient } from "@trellis/kit";
import {
  connectRawHttp2,
  FrameFlag,
  FrameType,
  grpcFrame,
  rawGrpcCall,
  type RawHttp2Connection,
  startServiceProcess,
  waitFor,
  type ServiceProcess,
} from "@trellis/kit/testing";
import { GetUserRequestSchema, UserService, WatchUsersRequestSchema } from "@trellis/api/trellis/user/v1/user_pb.js";
import { USER_MAIN } from "./user-main.js";

// Attacks on the transport of a real user process, as a hostile or broken client makes them
// (issue "Hardening"): each one failed on the code before the kit's connection and call guards.

const GET_USER = "/trellis.user.v1.UserService/GetUser";
const IMPORT_USERS = "/trellis.user.v1.UserService/ImportUsers";
const WATCH_USERS = "/trellis.user.v1.UserService/WatchUsers";
const ATTACKER = "127.0.0.2";
const getUserBody = grpcFrame(toBinary(GetUserRequestSchema, create(GetUserRequestSchema, { id: "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b" })));
const snapshotBody = grpcFrame(toBinary(WatchUsersRequestSchema, create(WatchUsersRequestSchema, { includeSnapshot: true })));

/** CreateUserRequest{email, display_name, roles: n × 99 (not a Role)}, encoded by hand: fast for millions. */
function createUserWithBadRoles(n: number): Buffer {
  const text = (field: number, value: string) => {
    const bytes = Buffer.from(value);
    return Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), bytes]);
  };
  const varint = (value: number) => {
    const out: number[] = [];
    for (; value >= 0x80; value = Math.floor(value / 0x80)) out.push((value & 0x7f) | 0x80);
    out.push(value);
    return Buffer.from(out);
  };
  return Buffer.concat([text(1, "roles@example.com"), text(2, "Roles"), Buffer.from([(3 << 3) | 2]), varint(n), Buffer.alloc(n, 99)]);
}

/** Open file descriptors of a process (Linux). */
function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe("user process under transport attacks", () => {
  let service: ServiceProcess;
  let users: Client<typeof UserService>;
  /** A well-behaved client on its own connection from another address: it must keep being served. */
  const served = async (): Promise<void> => {
    const outcome = await rawGrpcCall(service.address, GET_USER, { body: [getUserBody], headers: { "grpc-timeout": "20S" } });
    assert.equal(outcome.grpcStatus, Code.NOT_FOUND, outcome.grpcMessage);
    assert.equal(await service.healthz(), 200);
  };

  before(async () => {
    service = await startServiceProcess(USER_MAIN, {
      env: {
        // Short enough for a test; the defaults are in the README's "Limits and protections".
        GRPC_REQUEST_TIMEOUT_MS: "1000",
        GRPC_MAX_WRITE_STALL_MS: "1500",
        GRPC_KEEPALIVE_TIME_MS: "1000",
        GRPC_KEEPALIVE_TIMEOUT_MS: "1000",
        GRPC_IDLE_TIMEOUT_MS: "3000",
        GRPC_MAX_CALL_MS: "4000",
      },
    });
    users = createClient(UserService, service.address);
    // Enough users that a snapshot overflows HTTP/2 flow control when nobody reads it, imported
    // in batches: one import of them all can outlast GRPC_MAX_CALL_MS on a busy machine.
    async function* rows(from: number, count: number) {
      for (let i = from; i < from + count; i++) yield { email: `u${i}@example.com`, displayName: `User number ${i} with a longish name` };
    }
    for (let from = 0; from < 1500; from += 150) {
      const summary = await users.importUsers(rows(from, 150), { timeoutMs: 60_000 });
      assert.equal(summary.createdCount, 150);
    }
  });
  after(async () => {
    closeClient(users);
    await service?.stop();
  });

  it("answers a CreateUser holding 3,000,000 invalid roles with a bounded INVALID_ARGUMENT and lives on", async () => {
    const outcome = await rawGrpcCall(service.address, "/trellis.user.v1.UserService/CreateUser", {
      body: [grpcFrame(createUserWithBadRoles(3_000_000))],
      headers: { "grpc-timeout": "60S" },
    });
    assert.equal(outcome.grpcStatus, Code.INVALID_ARGUMENT);
    assert.match(outcome.grpcMessage ?? "", /^invalid CreateUserRequest: .*roles\[0\]: must be a defined Role value; .*and \d+ more$/);
    assert.ok(outcome.statusHeaderBytes < 8192, `${outcome.statusHeaderBytes} bytes of status headers`);
    await served();
  });

  it("keeps the status of 100 invalid roles within an 8 KiB client metadata limit (clients saw RESOURCE_EXHAUSTED)", async () => {
    const outcome = await rawGrpcCall(service.address, "/trellis.user.v1.UserService/CreateUser", {
      body: [grpcFrame(createUserWithBadRoles(100))],
    });
    assert.equal(outcome.grpcStatus, Code.INVALID_ARGUMENT);
    assert.ok(outcome.statusHeaderBytes < 8192, `${outcome.statusHeaderBytes} bytes of status headers`);
  });

  it("closes connections a protocol error ended, and caps one address' connections (file descriptors stayed open)", async () => {
    // 256 open files, as in the report: 234 such connections once took the service off the air.
    const soft = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${service.pid}/limits`, "utf8"))?.[1] ?? "1024";
    execFileSync("prlimit", [`--pid=${service.pid}`, "--nofile=256:"]);
    const before = openFds(service.pid);
    const attackers: RawHttp2Connection[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        const c = await connectRawHttp2(service.port, { localAddress: ATTACKER });
        attackers.push(c);
        c.preface();
        // Not HPACK: nghttp2 answers GOAWAY COMPRESSION_ERROR and Node stops reading the socket.
        c.frame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]));
        c.end();
      }
      await served();
      // Every attacker connection is closed by the server: refused past the per-address cap, or
      // closed by the keepalive probe that the dead session never answers.
      await Promise.all(attackers.map((c) => c.closed));
      await waitFor(() => openFds(service.pid) <= before + 5, `open descriptors back to ~${before} (now ${openFds(service.pid)})`);
    } finally {
      for (const c of attackers) c.destroy();
      execFileSync("prlimit", [`--pid=${service.pid}`, `--nofile=${soft}:`]);
    }
  });

  it("ends unary calls whose request never completes with DEADLINE_EXCEEDED (none was ever ended)", async () => {
    const stuck = Array.from({ length: 100 }, (_, i) =>
      rawGrpcCall(service.address, GET_USER, {
        body: [getUserBody.subarray(0, 10)],
        endStream: false,
        localAddress: i % 2 ? ATTACKER : "127.0.0.3",
      }),
    );
    await served();
    const outcomes = await Promise.all(stuck);
    assert.deepEqual(new Set(outcomes.map((o) => o.grpcStatus)), new Set([Code.DEADLINE_EXCEEDED]));
  });

  it("bounds held ImportUsers streams per connection and ends them at the call cap; RSS stays bounded", async () => {
    /** 4 connections × 2,000 streams that send headers and nothing else; the server allows 1,000 per connection. */
    const attack = async (): Promise<number> => {
      const connections = await Promise.all([0, 1, 2, 3].map(() => connectRawHttp2(service.port, { localAddress: ATTACKER })));
      try {
        for (const c of connections) {
          c.preface();
          for (let id = 1; id < 4000; id += 2) c.headers(id, IMPORT_USERS);
        }
        await served();
        const ended = (c: RawHttp2Connection, id: number) =>
          c.waitForFrame(
            (f) =>
              f.streamId === id &&
              (f.type === FrameType.RST_STREAM || (f.type === FrameType.HEADERS && (f.flags & FrameFlag.END_STREAM) !== 0)),
          );
        // Every stream ends: refused at once past the limit, or DEADLINE_EXCEEDED at GRPC_MAX_CALL_MS.
        await Promise.all(connections.flatMap((c) => Array.from({ length: 2000 }, (_, i) => ended(c, 2 * i + 1))));
        return connections
          .flatMap((c) => c.frames)
          .filter((f) => f.type === FrameType.RST_STREAM && f.payload.readUInt32BE(0) === http2.NGHTTP2_REFUSED_STREAM).length;
      } finally {
        for (const c of connections) c.destroy();
      }
    };
    const rssBefore = await service.rssBytes();
    assert.ok((await attack()) >= 4000, "the streams past 1,000 per connection were refused");
    await served();
    const rssAfterFirst = await service.rssBytes();
    await attack();
    await served();
    const rssAfterSecond = await service.rssBytes();
    // Before the limits, 80,000 held streams took RSS from 1.05 to 2.15 GB, and it stayed there.
    // The allocator keeps some of what the attack used (the kit's in-process test shows the heap
    // itself returns to where it was), so the bound is on the whole episode.
    const mib = (bytes: number) => Math.round(bytes / 1048576);
    const grown = `RSS ${mib(rssBefore)} → ${mib(rssAfterFirst)} → ${mib(rssAfterSecond)} MiB`;
    assert.ok(rssAfterSecond - rssBefore < 256 * 1048576, grown);
  });

  it("answers a rapid-reset flood with GOAWAY ENHANCE_YOUR_CALM per connection and keeps serving others", async () => {
    const connections = await Promise.all([0, 1, 2, 3].map(() => connectRawHttp2(service.port, { localAddress: ATTACKER })));
    try {
      await Promise.all(
        connections.map(async (c) => {
          c.preface();
          for (let id = 1; !c.socket.destroyed && id < 20_000; id += 2) {
            c.headers(id, GET_USER);
            c.data(id, getUserBody, true);
            c.reset(id);
            if (id % 199 === 0) await new Promise((resolve) => setImmediate(resolve));
          }
          const goaway = await c.waitForFrame((f) => f.type === FrameType.GOAWAY);
          assert.equal(goaway.payload.readUInt32BE(4), http2.NGHTTP2_ENHANCE_YOUR_CALM);
          assert.equal(goaway.payload.subarray(8).toString(), "too_many_resets");
          await c.closed;
        }),
      );
      await served();
    } finally {
      for (const c of connections) c.destroy();
    }
  });

  it("answers framing mistakes with INVALID_ARGUMENT, not grpc-js' UNIMPLEMENTED / INTERNAL", async () => {
    const requests: { body: Buffer[]; headers?: Record<string, string> }[] = [
      { body: [getUserBody.subarray(0, getUserBody.length - 3)] },
      { body: [grpcFrame(Buffer.from(getUserBody.subarray(5)), { declaredLength: 500 })] },
      { body: [] },
      { body: [getUserBody, getUserBody] },
      { body: [getUserBody], headers: { "grpc-timeout": "1 hour" } },
      { body: [grpcFrame(Buffer.from("plain"), { compressed: true })], headers: { "grpc-encoding": "gzip" } },
    ];
    for (const request of requests) {
      const outcome = await rawGrpcCall(service.address, GET_USER, request);
      assert.equal(outcome.grpcStatus, Code.INVALID_ARGUMENT, `${JSON.stringify(request.headers ?? {})}: ${outcome.grpcMessage}`);
    }
  });

  it("resets a snapshot stream whose deadline passed while its writes waited for the client", async () => {
    const outcome = await rawGrpcCall(service.address, WATCH_USERS, {
      body: [snapshotBody],
      headers: { "grpc-timeout": "1S" },
      read: false,
    });
    assert.equal(outcome.rstCode, http2.NGHTTP2_CANCEL);
    await served();
  });

  it("ends a stream its client stopped reading with RESOURCE_EXHAUSTED (RST_STREAM ENHANCE_YOUR_CALM)", async () => {
    const outcome = await rawGrpcCall(service.address, WATCH_USERS, { body: [snapshotBody], read: false });
    assert.equal(outcome.rstCode, http2.NGHTTP2_ENHANCE_YOUR_CALM);
    await waitFor(
      () =>
        service.logs.some((l) => l["rpc.method"] === "trellis.user.v1.UserService/WatchUsers" && l["grpc.code"] === "RESOURCE_EXHAUSTED"),
      "the log says RESOURCE_EXHAUSTED",
    );
  });

  it("closes idle connections and half-open ones (a client that stopped answering pings)", async () => {
    const idle = await connectRawHttp2(service.port);
    const halfOpen = await connectRawHttp2(service.port, { answerPings: false });
    try {
      idle.preface();
      halfOpen.preface();
      // A call keeps it from being idle; the raw client never acknowledges the server's pings.
      halfOpen.headers(1, IMPORT_USERS);
      const goaway = await idle.waitForFrame((f) => f.type === FrameType.GOAWAY);
      assert.equal(goaway.payload.readUInt32BE(4), http2.NGHTTP2_NO_ERROR);
      await Promise.all([idle.closed, halfOpen.closed]);
      assert.ok(
        halfOpen.frames.some((f) => f.type === FrameType.PING && (f.flags & FrameFlag.ACK) === 0),
        "the server probed with a PING",
      );
    } finally {
      idle.destroy();
      halfOpen.destroy();
    }
  });
});
