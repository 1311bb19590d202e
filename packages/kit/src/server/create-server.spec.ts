import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { BadRequestSchema, RequestInfoSchema, ResourceInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { Code, RpcError } from "../errors/rpc-error.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";
import { createEchoHandlers, type EchoProbe } from "../testing/echo-service.js";
import { rpcFailure } from "../testing/rpc-failure.js";

async function* from<T>(items: readonly T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

function rawUnary(address: string, path: string, payload: Buffer): Promise<grpc.ServiceError | undefined> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      payload,
      (error) => {
        client.close();
        resolve(error ?? undefined);
      },
    );
  });
}

function healthCheck(address: string, serviceName: string): Promise<string> {
  const Health = grpc.makeGenericClientConstructor(healthService as grpc.ServiceDefinition, "Health");
  const client = new Health(address, grpc.credentials.createInsecure()) as unknown as {
    check(req: { service: string }, cb: (e: grpc.ServiceError | null, r: { status: string }) => void): void;
    close(): void;
  };
  return new Promise((resolve, reject) =>
    client.check({ service: serviceName }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(response.status);
    }),
  );
}

function httpGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("createServer: calls", () => {
  let t: TestServer;
  let probe: EchoProbe;
  before(async () => {
    probe = { aborted: [], completed: 0 };
    t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers(probe)), { maxReceiveMessageBytes: 64 * 1024 });
  });
  after(() => t.close());

  it("serves a unary call and passes the client's request id to the handler", async () => {
    const echo = t.client(EchoService);
    const response = await echo.echo({ text: "hi" }, { headers: { "x-request-id": "req-123" } });
    assert.equal(response.text, "hi");
    assert.equal(response.requestId, "req-123");
  });

  it("serves server, client and bidi streams", async () => {
    const echo = t.client(EchoService);
    const streamed: number[] = [];
    for await (const message of echo.echoStream({ text: "x", count: 3 })) streamed.push(message.index);
    assert.deepEqual(streamed, [0, 1, 2]);
    const collected = await echo.collect(from([{ text: "a" }, { text: "b" }]));
    assert.deepEqual(collected.texts, ["a", "b"]);
    const replies: string[] = [];
    for await (const reply of echo.converse(from([{ text: "a" }, { text: "b" }]))) replies.push(reply.text);
    assert.deepEqual(replies, ["A", "B"]);
  });

  it("rejects a request that breaks its .proto rules with INVALID_ARGUMENT and BadRequest", async () => {
    const error = await rpcFailure(t.client(EchoService).echo({ text: "x".repeat(51) }));
    assert.equal(error.code, Code.INVALID_ARGUMENT);
    const badRequest = error.findDetail(BadRequestSchema);
    assert.equal(badRequest?.fieldViolations[0]?.field, "text");
  });

  it("validates every message of a client stream", async () => {
    const error = await rpcFailure(t.client(EchoService).collect(from([{ text: "ok" }, { text: "y".repeat(60) }])));
    assert.equal(error.code, Code.INVALID_ARGUMENT);
  });

  it("turns an unexpected throw into INTERNAL without leaking its message, and logs it", async () => {
    const error = await rpcFailure(t.client(EchoService).echo({ text: "boom", failWith: "internal" }));
    assert.equal(error.code, Code.INTERNAL);
    assert.equal(error.message, "internal error");
    const sent = JSON.stringify(
      error.details.map((d) => d.value),
      (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v),
    );
    assert.ok(!sent.includes("hunter2") && !sent.includes(" at "), "no internal detail reaches the client");
    const logged = t.logs.find((line) => line.message === "handler failed");
    assert.match(String((logged?.error as { stack_trace?: string } | undefined)?.stack_trace), /hunter2[\s\S]*at /);
    assert.ok(error.findDetail(RequestInfoSchema)?.requestId, "error carries the request id");
  });

  it("sends rich error details in grpc-status-details-bin", async () => {
    const error = await rpcFailure(t.client(EchoService).echo({ text: "t1", failWith: "not_found" }));
    assert.equal(error.code, Code.NOT_FOUND);
    assert.equal(error.findDetail(ResourceInfoSchema)?.resourceName, "t1");
  });

  it("fails a call past its deadline with DEADLINE_EXCEEDED and aborts the handler's signal", async () => {
    const before = probe.aborted.length;
    const error = await rpcFailure(t.client(EchoService).echo({ text: "slow", delayMs: 5_000 }, { timeoutMs: 50 }));
    assert.equal(error.code, Code.DEADLINE_EXCEEDED);
    const reason = await probe.aborted[before];
    assert.ok(reason instanceof RpcError && reason.code === Code.DEADLINE_EXCEEDED, String(reason));
  });

  it("aborts the handler when the client cancels mid-stream", async () => {
    const before = probe.aborted.length;
    const controller = new AbortController();
    const received: number[] = [];
    await assert.rejects(async () => {
      for await (const message of t.client(EchoService).echoStream({ text: "forever" }, { signal: controller.signal })) {
        received.push(message.index);
        if (received.length === 3) controller.abort();
      }
    });
    const reason = await probe.aborted[before];
    assert.ok(reason instanceof RpcError && reason.code === Code.CANCELLED);
    assert.deepEqual(received, [0, 1, 2]);
  });

  it("answers malformed protobuf with INVALID_ARGUMENT and keeps serving", async () => {
    const error = await rawUnary(t.address, "/trellis.kittest.v1.EchoService/Echo", Buffer.from([0x0a, 0xff, 0xff, 0xff]));
    assert.equal(error?.code, Code.INVALID_ARGUMENT);
    assert.match(error?.details ?? "", /not a valid trellis.kittest.v1.EchoRequest/);
    assert.equal((await t.client(EchoService).echo({ text: "still" })).text, "still");
  });

  it("refuses an oversize message with RESOURCE_EXHAUSTED", async () => {
    const payload = Buffer.concat([Buffer.from([0x0a, 0x80, 0x80, 0x05]), Buffer.alloc(80 * 1024, 0x61)]);
    const error = await rawUnary(t.address, "/trellis.kittest.v1.EchoService/Echo", payload);
    assert.equal(error?.code, Code.RESOURCE_EXHAUSTED);
  });

  it("answers an unknown method with UNIMPLEMENTED", async () => {
    const error = await rawUnary(t.address, "/trellis.kittest.v1.EchoService/Nope", Buffer.alloc(0));
    assert.equal(error?.code, Code.UNIMPLEMENTED);
  });

  it("reports SERVING through grpc.health.v1 for the server and the service", async () => {
    assert.equal(await healthCheck(t.address, ""), "SERVING");
    assert.equal(await healthCheck(t.address, "trellis.kittest.v1.EchoService"), "SERVING");
  });
});

describe("createServer: shutdown", () => {
  it("turns NOT_SERVING, then drains an in-flight call before closing", async () => {
    const probe: EchoProbe = { aborted: [], completed: 0 };
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers(probe)), { shutdownDelayMs: 300 });
    const echo = t.client(EchoService);
    const inFlight = echo.echo({ text: "drain me", delayMs: 600 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stopped = t.server.shutdown();
    assert.equal(await healthCheck(t.address, ""), "NOT_SERVING");
    assert.equal((await inFlight).text, "drain me");
    await stopped;
    const error = await rpcFailure(echo.echo({ text: "late" }, { timeoutMs: 1_000 }));
    assert.ok(error.code === Code.UNAVAILABLE || error.code === Code.DEADLINE_EXCEEDED);
    await t.close();
  });

  it("ends response streams with UNAVAILABLE so clients reconnect elsewhere", async () => {
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()));
    const stream = t.client(EchoService).echoStream({ text: "sub" });
    const consumed = (async () => {
      for await (const message of stream) if (message.index === 2) void t.server.shutdown();
    })();
    const error = await rpcFailure(consumed);
    assert.equal(error.code, Code.UNAVAILABLE);
    await t.close();
  });

  it("cancels calls that outlive the grace period", async () => {
    const probe: EchoProbe = { aborted: [], completed: 0 };
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers(probe)), { shutdownGraceMs: 100 });
    const inFlight = t.client(EchoService).echo({ text: "stuck", delayMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await t.server.shutdown();
    const error = await rpcFailure(inFlight);
    assert.ok(error.code === Code.UNAVAILABLE || error.code === Code.CANCELLED);
    assert.equal(probe.completed, 0);
    await t.close();
  });

  it("pushes NOT_SERVING to grpc.health.v1 Watch subscribers when a shutdown starts", async () => {
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()), { shutdownDelayMs: 200 });
    const Health = grpc.makeGenericClientConstructor(healthService as grpc.ServiceDefinition, "Health");
    const client = new Health(t.address, grpc.credentials.createInsecure()) as unknown as {
      watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
      close(): void;
    };
    const seen: string[] = [];
    const call = client.watch({ service: "trellis.kittest.v1.EchoService" });
    const notServing = new Promise<void>((resolve) =>
      call.on("data", (message: { status: string }) => {
        seen.push(message.status);
        if (message.status === "SERVING") void t.server.shutdown();
        if (message.status === "NOT_SERVING") resolve();
      }),
    );
    call.on("error", () => undefined);
    await notServing;
    assert.deepEqual(seen, ["SERVING", "NOT_SERVING"]);
    call.cancel();
    client.close();
    await t.close();
  });

  it("answers /readyz 200 while serving and 503 once shutting down; /healthz stays 200", async () => {
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()), { shutdownDelayMs: 300 });
    const adminPort = await t.server.admin.listen("127.0.0.1", 0);
    assert.equal(await httpGet(adminPort, "/readyz"), 200);
    const stopped = t.server.shutdown();
    assert.equal(await httpGet(adminPort, "/readyz"), 503);
    assert.equal(await httpGet(adminPort, "/healthz"), 200);
    await stopped;
    await t.close();
  });
});
