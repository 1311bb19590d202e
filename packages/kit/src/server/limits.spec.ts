import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { constants as http2 } from "node:http2";
import { gzipSync } from "node:zlib";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Writable } from "node:stream";
import { createLogger } from "../observability/logger.js";
import { toBinary, create } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoService, EchoStreamRequestSchema } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { Code } from "../errors/rpc-error.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { grpcFrame, rawGrpcCall } from "../testing/raw-grpc.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { connectRawHttp2, FrameFlag, FrameType, type RawHttp2Connection } from "../testing/raw-http2.js";
import type { ServerLimits } from "./server-limits.js";
import type { CallContext } from "../call/call-context.js";

const ECHO = "/trellis.kittest.v1.EchoService/Echo";
const ECHO_STREAM = "/trellis.kittest.v1.EchoService/EchoStream";
const COLLECT = "/trellis.kittest.v1.EchoService/Collect";
const echoBody = (text: string) => toBinary(EchoRequestSchema, create(EchoRequestSchema, { text }));

function start(limits: Partial<ServerLimits> = {}): Promise<TestServer> {
  return startTestServer((s) => s.addService(EchoService, createEchoHandlers()), { limits });
}

function portOf(t: TestServer): number {
  return Number(t.address.split(":")[1]);
}

/** A well-behaved call on its own connection: the server is still serving others. */
async function stillServes(t: TestServer): Promise<void> {
  const outcome = await rawGrpcCall(t.address, ECHO, { body: [grpcFrame(echoBody("ok"))] });
  assert.equal(outcome.grpcStatus, Code.OK);
}

/** Resolves when the server has closed the connection (or rejects the frame wait). */
async function goawayCode(connection: RawHttp2Connection): Promise<{ code: number; debug: string }> {
  const frame = await connection.waitForFrame((f) => f.type === FrameType.GOAWAY);
  return { code: frame.payload.readUInt32BE(4), debug: frame.payload.subarray(8).toString() };
}

describe("malformed requests get INVALID_ARGUMENT with a clear message (not grpc-js' UNIMPLEMENTED / INTERNAL)", () => {
  let t: TestServer;
  before(async () => (t = await start()));
  after(() => t.close());

  const cases: [string, { body?: Buffer[]; headers?: Record<string, string> }, RegExp][] = [
    [
      "a length prefix longer than the body",
      { body: [grpcFrame(echoBody("hi"), { declaredLength: 100 })] },
      /takes exactly one request message; the request ended without a complete one/,
    ],
    ["a truncated frame", { body: [grpcFrame(echoBody("hello")).subarray(0, 7)] }, /ended without a complete one/],
    ["no message at all", { body: [] }, /ended without a complete one/],
    [
      "two messages to a unary method",
      { body: [grpcFrame(echoBody("a")), grpcFrame(echoBody("b"))] },
      /takes exactly one request message; the client sent more than one/,
    ],
    [
      "a malformed grpc-timeout",
      { body: [grpcFrame(echoBody("a"))], headers: { "grpc-timeout": "soon" } },
      /grpc-timeout header "soon" is malformed/,
    ],
    [
      "a gzip call whose body is not gzip",
      { body: [grpcFrame(Buffer.from("not gzip at all"), { compressed: true })], headers: { "grpc-encoding": "gzip" } },
      /could not be decompressed/,
    ],
  ];
  for (const [name, request, message] of cases) {
    it(name, async () => {
      const outcome = await rawGrpcCall(t.address, ECHO, request);
      assert.equal(outcome.grpcStatus, Code.INVALID_ARGUMENT, outcome.grpcMessage);
      assert.match(outcome.grpcMessage ?? "", message);
    });
  }

  it("answers an unsupported grpc-encoding with UNIMPLEMENTED, as the gRPC compression spec says", async () => {
    const outcome = await rawGrpcCall(t.address, ECHO, {
      body: [grpcFrame(echoBody("a"), { compressed: true })],
      headers: { "grpc-encoding": "snappy" },
    });
    assert.equal(outcome.grpcStatus, Code.UNIMPLEMENTED);
    assert.match(outcome.grpcMessage ?? "", /unsupported encoding "snappy"/);
  });

  it("still accepts a gzip-compressed request", async () => {
    const outcome = await rawGrpcCall(t.address, ECHO, {
      body: [grpcFrame(gzipSync(echoBody("zipped")), { compressed: true })],
      headers: { "grpc-encoding": "gzip" },
    });
    assert.equal(outcome.grpcStatus, Code.OK);
  });
});

describe("what the fuzz suite found", () => {
  let t: TestServer;
  before(async () => (t = await start()));
  after(() => t.close());

  it("survives a malformed grpc-timeout on an unknown method or a non-gRPC content type (grpc-js answers those itself)", async () => {
    const unknown = await rawGrpcCall(t.address, "/x.Y/Z", { body: [grpcFrame(Buffer.alloc(0))], headers: { "grpc-timeout": "abc" } });
    assert.equal(unknown.grpcStatus, Code.UNIMPLEMENTED);
    const text = await rawGrpcCall(t.address, ECHO, {
      body: [grpcFrame(echoBody("x"))],
      headers: { "grpc-timeout": "abc", "content-type": "text/plain" },
    });
    assert.equal(text.httpStatus, 415);
    await stillServes(t);
  });

  it("answers a malformed health check with INVALID_ARGUMENT, not grpc-js' INTERNAL", async () => {
    const outcome = await rawGrpcCall(t.address, "/grpc.health.v1.Health/Check", { body: [grpcFrame(Buffer.from([0xff]))] });
    assert.equal(outcome.grpcStatus, Code.INVALID_ARGUMENT, outcome.grpcMessage);
  });
});

describe("limits applied before the handler starts", () => {
  it("ends a unary call whose request never completes with DEADLINE_EXCEEDED", async () => {
    const t = await start({ requestTimeoutMs: 300 });
    try {
      const outcome = await rawGrpcCall(t.address, ECHO, { body: [grpcFrame(echoBody("hi")).subarray(0, 4)], endStream: false });
      assert.equal(outcome.grpcStatus, Code.DEADLINE_EXCEEDED);
      assert.match(outcome.grpcMessage ?? "", /request was not received within 300 ms/);
      await stillServes(t);
    } finally {
      await t.close();
    }
  });

  it("never runs the handler of a request answered before it half-closed (its row would exist though the client was told it failed)", async () => {
    const probe = { aborted: [] as Promise<unknown>[], completed: 0 };
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers(probe)), { limits: { requestTimeoutMs: 300 } });
    try {
      // The whole message, but no END_STREAM: answered DEADLINE_EXCEEDED, then reset (which half-closes it).
      const outcome = await rawGrpcCall(t.address, ECHO, { body: [grpcFrame(echoBody("complete"))], endStream: false });
      assert.equal(outcome.grpcStatus, Code.DEADLINE_EXCEEDED);
      await stillServes(t);
      assert.equal(probe.completed, 1, "only the well-behaved call ran");
    } finally {
      await t.close();
    }
  });

  it("refuses calls past maxConcurrentCalls with RESOURCE_EXHAUSTED, but never health checks", async () => {
    const t = await start({ maxConcurrentCalls: 2 });
    try {
      const held = [0, 1].map(() =>
        rawGrpcCall(t.address, ECHO_STREAM, {
          body: [grpcFrame(toBinary(EchoStreamRequestSchema, create(EchoStreamRequestSchema, { text: "x" })))],
        }),
      );
      await waitFor(() => t.server.inFlight === 2);
      const refused = await rawGrpcCall(t.address, ECHO, { body: [grpcFrame(echoBody("no room"))] });
      assert.equal(refused.grpcStatus, Code.RESOURCE_EXHAUSTED);
      assert.match(refused.grpcMessage ?? "", /limit of 2 calls in progress/);
      // A grpc-js client reads the status too (the RST_STREAM NO_ERROR after it changes nothing).
      const failure = await rpcFailure(t.client(EchoService).echo({ text: "no room either" }));
      assert.equal(failure.code, Code.RESOURCE_EXHAUSTED);
      const health = await rawGrpcCall(t.address, "/grpc.health.v1.Health/Check", { body: [grpcFrame(Buffer.alloc(0))] });
      assert.equal(health.grpcStatus, Code.OK);
      await t.close();
      await Promise.all(held);
    } finally {
      await t.close();
    }
  });
});

describe("held request streams", () => {
  it("leave nothing behind on the heap once they end (the JS heap returns to where it was)", async () => {
    const gc = exposeGc();
    // Logs to nowhere and a Collect that keeps nothing: the test server keeps every log line,
    // and the echo handlers every call's abort reason, for other tests to look at.
    const logger = createLogger({ destination: new Writable({ write: (_chunk, _encoding, done) => done() }) });
    const handlers = {
      ...createEchoHandlers(),
      async collect(requests: AsyncIterable<{ text: string }>) {
        const texts: string[] = [];
        for await (const request of requests) texts.push(request.text);
        return { texts };
      },
    };
    const t = await startTestServer((s) => s.addService(EchoService, handlers), { limits: { maxConcurrentStreams: 500 }, logger });
    try {
      const attack = async (): Promise<void> => {
        const c = await connectRawHttp2(portOf(t));
        c.preface();
        for (let id = 1; id < 2 * 1000; id += 2) c.headers(id, COLLECT);
        await waitFor(() => t.server.inFlight === 500);
        c.destroy();
        await waitFor(() => t.server.inFlight === 0 && t.server.connectionStats.open === 0);
      };
      await attack();
      const settled = (): number => {
        gc();
        gc();
        return process.memoryUsage().heapUsed;
      };
      const after1 = settled();
      for (let i = 0; i < 3; i++) await attack();
      const after4 = settled();
      assert.ok(after4 - after1 < 2 * 1048576, `the heap grew by ${Math.round((after4 - after1) / 1024)} KiB over three more attacks`);
    } finally {
      await t.close();
    }
  });
});

describe("connection limits", () => {
  it("closes connections past the limit per client address, and serves other addresses", async () => {
    const t = await start({ maxConnectionsPerAddress: 3 });
    const open: RawHttp2Connection[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await connectRawHttp2(portOf(t), { localAddress: "127.0.0.2" });
        c.preface();
        open.push(c);
      }
      await waitFor(() => t.server.connectionStats.open === 3);
      const refused = await connectRawHttp2(portOf(t), { localAddress: "127.0.0.2" });
      await refused.closed;
      assert.equal(t.server.connectionStats.refused.perAddress, 1);
      await stillServes(t); // from 127.0.0.1
    } finally {
      for (const c of open) c.destroy();
      await t.close();
    }
  });

  it("closes a connection that never sends the HTTP/2 preface", async () => {
    const t = await start({ prefaceTimeoutMs: 200 });
    try {
      const silent = await connectRawHttp2(portOf(t));
      await silent.closed;
      assert.equal(t.server.connectionStats.prefaceTimeouts, 1);
    } finally {
      await t.close();
    }
  });

  it("answers a rapid-reset flood with GOAWAY ENHANCE_YOUR_CALM and closes the connection", async () => {
    const t = await start({ maxResetsPerWindow: 50 });
    const attacker = await connectRawHttp2(portOf(t));
    try {
      attacker.preface();
      for (let id = 1; id < 2 * 200; id += 2) {
        attacker.headers(id, ECHO);
        attacker.reset(id);
      }
      assert.deepEqual(await goawayCode(attacker), { code: http2.NGHTTP2_ENHANCE_YOUR_CALM, debug: "too_many_resets" });
      await attacker.closed;
      await stillServes(t);
    } finally {
      attacker.destroy();
      await t.close();
    }
  });

  it("answers pings on an idle connection faster than allowed with GOAWAY too_many_pings", async () => {
    const t = await start({ minPingIntervalMs: 60_000 });
    const pinger = await connectRawHttp2(portOf(t));
    try {
      pinger.preface();
      for (let i = 0; i < 5; i++) pinger.frame(FrameType.PING, 0, 0, Buffer.alloc(8, i));
      assert.deepEqual(await goawayCode(pinger), { code: http2.NGHTTP2_ENHANCE_YOUR_CALM, debug: "too_many_pings" });
      await pinger.closed;
    } finally {
      pinger.destroy();
      await t.close();
    }
  });

  it("allows pings between calls (grpc-go clients probe bandwidth after each response)", async () => {
    const t = await start({ minPingIntervalMs: 60_000 });
    const client = await connectRawHttp2(portOf(t));
    try {
      client.preface();
      for (let id = 1; id <= 11; id += 2) {
        client.headers(id, ECHO);
        client.data(id, grpcFrame(echoBody("hi")), true);
        await client.waitForFrame((f) => f.streamId === id && f.type === FrameType.HEADERS && (f.flags & FrameFlag.END_STREAM) !== 0);
        client.frame(FrameType.PING, 0, 0, Buffer.alloc(8, id));
      }
      client.headers(13, ECHO);
      client.data(13, grpcFrame(echoBody("last")), true);
      await client.waitForFrame((f) => f.streamId === 13 && f.type === FrameType.HEADERS && (f.flags & FrameFlag.END_STREAM) !== 0);
      assert.ok(!client.frames.some((f) => f.type === FrameType.GOAWAY));
    } finally {
      client.destroy();
      await t.close();
    }
  });

  it("closes the socket of a connection ended by a protocol error (Node leaves it open) via keepalive", async () => {
    const t = await start({ keepaliveTimeMs: 200, keepaliveTimeoutMs: 200 });
    const broken = await connectRawHttp2(portOf(t));
    try {
      broken.preface();
      // A HEADERS block that is not valid HPACK: nghttp2 answers GOAWAY COMPRESSION_ERROR.
      broken.frame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]));
      assert.equal((await goawayCode(broken)).code, http2.NGHTTP2_COMPRESSION_ERROR);
      broken.end();
      await broken.closed;
      await waitFor(() => t.server.connectionStats.open === 0);
    } finally {
      broken.destroy();
      await t.close();
    }
  });
});

describe("response streams a client does not read", () => {
  const bigStream = grpcFrame(toBinary(EchoStreamRequestSchema, create(EchoStreamRequestSchema, { text: "x".repeat(16_384) })));

  it("resets a stream whose deadline passed while its writes were queued (the wire says the call ended)", async () => {
    const t = await start();
    try {
      const outcome = await rawGrpcCall(t.address, ECHO_STREAM, { body: [bigStream], headers: { "grpc-timeout": "300m" }, read: false });
      assert.equal(outcome.rstCode, http2.NGHTTP2_CANCEL);
      await waitFor(() => t.logs.some((l) => l["grpc.code"] === "DEADLINE_EXCEEDED"));
      await stillServes(t);
    } finally {
      await t.close();
    }
  });

  it("ends a stream whose client stopped reading with RESOURCE_EXHAUSTED (RST_STREAM ENHANCE_YOUR_CALM)", async () => {
    const t = await start({ maxWriteStallMs: 300 });
    try {
      const outcome = await rawGrpcCall(t.address, ECHO_STREAM, { body: [bigStream], read: false });
      assert.equal(outcome.rstCode, http2.NGHTTP2_ENHANCE_YOUR_CALM);
      await waitFor(() => t.logs.some((l) => l["grpc.code"] === "RESOURCE_EXHAUSTED"));
      assert.equal(t.server.inFlight, 0);
    } finally {
      await t.close();
    }
  });
});

describe("response streams past their deadline end on the wire", () => {
  // Like WatchUsers: a few messages (a snapshot), then the stream waits for more (the change feed).
  const handlers = {
    ...createEchoHandlers(),
    async *echoStream(request: { text: string; count: number }, context: CallContext) {
      for (let index = 0; index < request.count; index += 1) yield { text: request.text, index };
      if (request.text === "then wait") await new Promise((resolve) => context.signal.addEventListener("abort", resolve, { once: true }));
    },
  };
  const streamRequest = (text: string) => grpcFrame(toBinary(EchoStreamRequestSchema, create(EchoStreamRequestSchema, { text, count: 3 })));
  /** A connection whose streams may send no DATA until the client opens their window. */
  async function zeroWindowClient(t: TestServer): Promise<RawHttp2Connection> {
    const c = await connectRawHttp2(portOf(t));
    const initialWindowZero = Buffer.from([0x00, 0x04, 0x00, 0x00, 0x00, 0x00]);
    c.preface();
    c.frame(FrameType.SETTINGS, 0, 0, initialWindowZero);
    return c;
  }
  const streamEnd = (c: RawHttp2Connection, id: number) =>
    c.waitForFrame(
      (f) =>
        f.streamId === id && (f.type === FrameType.RST_STREAM || (f.type === FrameType.HEADERS && (f.flags & FrameFlag.END_STREAM) !== 0)),
    );

  it("ends a stream whose deadline passed with messages still queued, also once the client reads them (grpc-js then wrote to the stream it had ended, which never closed)", async () => {
    const t = await startTestServer((s) => s.addService(EchoService, handlers));
    const c = await zeroWindowClient(t);
    try {
      c.headers(1, ECHO_STREAM, { extra: { "grpc-timeout": "100m" } });
      c.data(1, streamRequest("then wait"), true);
      // The server has given up on the call (its deadline passed) with its three messages still queued for this client.
      await waitFor(() =>
        t.logs.some((l) => l["rpc.method"] === "trellis.kittest.v1.EchoService/EchoStream" && l["grpc.code"] === "DEADLINE_EXCEEDED"),
      );
      const windowUpdate = Buffer.alloc(4);
      windowUpdate.writeUInt32BE(1 << 20);
      c.frame(FrameType.WINDOW_UPDATE, 0, 1, windowUpdate);
      const end = await streamEnd(c, 1);
      assert.equal(end.type, FrameType.RST_STREAM);
      assert.equal(end.payload.readUInt32BE(0), http2.NGHTTP2_CANCEL);
      await stillServes(t);
    } finally {
      c.destroy();
      await t.close();
    }
  });

  it("ends a stream whose handler finished before the deadline but whose client has not read its messages", async () => {
    const t = await startTestServer((s) => s.addService(EchoService, handlers));
    const c = await zeroWindowClient(t);
    try {
      c.headers(1, ECHO_STREAM, { extra: { "grpc-timeout": "100m" } });
      c.data(1, streamRequest("then end"), true);
      const end = await streamEnd(c, 1);
      assert.equal(end.type, FrameType.RST_STREAM);
      assert.equal(end.payload.readUInt32BE(0), http2.NGHTTP2_CANCEL);
      assert.ok(
        t.logs.some((l) => l["rpc.method"] === "trellis.kittest.v1.EchoService/EchoStream" && l["grpc.code"] === "OK"),
        "the handler had finished",
      );
      await stillServes(t);
    } finally {
      c.destroy();
      await t.close();
    }
  });
});

/** The V8 collector, exposed at run time (node --test gives no way to pass --expose-gc to one file). */
function exposeGc(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/** Polls `condition` until true; the test's own timeout bounds the wait. */
async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}
