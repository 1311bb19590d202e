import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, type DescMethod, type Message } from "@bufbuild/protobuf";
import { Code, RpcError } from "../errors/rpc-error.js";
import { codeName } from "../errors/code.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { EchoRequestSchema, EchoResponseSchema, EchoService, EchoStreamResponseSchema } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import type { CallRequest, Next } from "../call/interceptor.js";
import { createBreakerInterceptor, type BreakerInterceptorOptions } from "./breaker.js";
import { createBreakerRegistry } from "../resilience/breaker-registry.js";
import { createTestRequest } from "../testing/test-call-context.js";

function request(method: DescMethod = EchoService.method.echo, target = "dns:///echo"): CallRequest {
  return createTestRequest({ side: "client", method, target, message: create(EchoRequestSchema) });
}

const failWith =
  (code: Code): Next =>
  async () => {
    throw new RpcError(code, "backend says no");
  };

/** A breaker interceptor on a fake clock that never drops by chance: it drops whenever the ratio is positive. */
function setup(next: Next, options: BreakerInterceptorOptions = {}) {
  const clock = { t: 0 };
  const breakers = createBreakerRegistry({ now: () => clock.t, random: () => 0 });
  let sent = 0;
  const counted: Next = (r) => {
    sent++;
    return next(r);
  };
  const handler = createBreakerInterceptor({ breakers, ...options })(counted);
  return { handler, breakers, clock, sent: () => sent };
}

async function settle(promise: Promise<unknown>): Promise<RpcError | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    assert.ok(error instanceof RpcError, `expected an RpcError, got ${String(error)}`);
    return error;
  }
}

describe("breaker interceptor", () => {
  it("fails fast with UNAVAILABLE and ErrorInfo CIRCUIT_OPEN once the backend keeps failing", async () => {
    const { handler, clock, sent } = setup(failWith(Code.UNAVAILABLE));
    const errors: RpcError[] = [];
    for (clock.t = 0; clock.t < 1000; clock.t += 10) {
      const error = await settle(handler(request()));
      assert.ok(error);
      errors.push(error);
    }
    const open = errors.filter((e) => e.message.startsWith("circuit breaker open"));
    assert.ok(open.length >= 90, `${open.length} of 100 calls failed fast`);
    assert.equal(sent() + open.length, 100, "a dropped call is never sent");
    const first = open[0];
    assert.ok(first);
    assert.equal(first.code, Code.UNAVAILABLE);
    assert.equal(first.message, "circuit breaker open for dns:///echo trellis.kittest.v1.EchoService/Echo");
    const info = first.findDetail(ErrorInfoSchema);
    assert.equal(info?.reason, "CIRCUIT_OPEN");
    assert.equal(info?.domain, "trellis.dev");
    assert.equal(info?.metadata["target"], "dns:///echo");
    assert.equal(info?.metadata["method"], "trellis.kittest.v1.EchoService/Echo");
  });

  for (const code of [
    Code.NOT_FOUND,
    Code.INVALID_ARGUMENT,
    Code.PERMISSION_DENIED,
    Code.FAILED_PRECONDITION,
    Code.CANCELLED,
    Code.ALREADY_EXISTS,
  ]) {
    it(`does not count ${codeName(code)} against the backend`, async () => {
      const { handler, breakers, sent } = setup(failWith(code));
      for (let i = 0; i < 200; i++) assert.equal((await settle(handler(request())))?.code, code);
      assert.equal(sent(), 200);
      const snapshot = breakers.snapshot()["dns:///echo trellis.kittest.v1.EchoService/Echo"];
      assert.deepEqual(snapshot, { requests: 200, accepts: 200, failures: 0, drops: 0, totalDrops: 0, dropRatio: 0, state: "closed" });
    });
  }

  for (const code of [
    Code.UNAVAILABLE,
    Code.DEADLINE_EXCEEDED,
    Code.INTERNAL,
    Code.RESOURCE_EXHAUSTED,
    Code.DATA_LOSS,
    Code.UNIMPLEMENTED,
  ]) {
    it(`counts ${codeName(code)} as a failure`, async () => {
      const { handler, breakers } = setup(failWith(code));
      await settle(handler(request()));
      assert.equal(Object.values(breakers.snapshot())[0]?.failures, 1);
    });
  }

  it("accepts an isFailure of its own", async () => {
    const { handler, breakers } = setup(failWith(Code.NOT_FOUND), { isFailure: (code) => code === Code.NOT_FOUND });
    await settle(handler(request()));
    assert.equal(Object.values(breakers.snapshot())[0]?.failures, 1);
  });

  it("keeps one breaker per target and method", async () => {
    const clock = { t: 0 };
    const breakers = createBreakerRegistry({ now: () => clock.t, random: () => 0 });
    const handler = createBreakerInterceptor({ breakers })(async (r) => {
      if (r.context.target === "dns:///down") throw new RpcError(Code.UNAVAILABLE, "down");
      return { stream: false, message: create(EchoResponseSchema) };
    });
    for (let i = 0; i < 50; i++) await settle(handler(request(EchoService.method.echo, "dns:///down")));
    for (let i = 0; i < 50; i++) assert.equal(await settle(handler(request(EchoService.method.echo, "dns:///up"))), undefined);
    const snapshot = breakers.snapshot();
    assert.deepEqual(Object.keys(snapshot).sort(), [
      "dns:///down trellis.kittest.v1.EchoService/Echo",
      "dns:///up trellis.kittest.v1.EchoService/Echo",
    ]);
    assert.equal(snapshot["dns:///down trellis.kittest.v1.EchoService/Echo"]?.state, "throttling");
    assert.equal(snapshot["dns:///up trellis.kittest.v1.EchoService/Echo"]?.state, "closed");
  });

  it("counts a response stream when it ends, as a failure if it breaks", async () => {
    const { handler, breakers } = setup(async () => ({
      stream: true,
      messages: (async function* (): AsyncIterable<Message> {
        yield create(EchoStreamResponseSchema, { index: 0 });
        throw new RpcError(Code.UNAVAILABLE, "connection reset");
      })(),
    }));
    const response = await handler(request(EchoService.method.echoStream));
    assert.ok(response.stream);
    assert.equal(Object.values(breakers.snapshot())[0]?.requests, 0, "nothing counted while the stream is open");
    const received: object[] = [];
    await assert.rejects(async () => {
      for await (const message of response.messages) received.push(message);
    }, /connection reset/);
    assert.equal(received.length, 1);
    assert.deepEqual(Object.values(breakers.snapshot())[0], {
      requests: 1,
      accepts: 0,
      failures: 1,
      drops: 0,
      totalDrops: 0,
      dropRatio: 0,
      state: "closed",
    });
  });

  it("accepts a stream that ends cleanly or that the consumer leaves", async () => {
    const { handler, breakers } = setup(async () => ({
      stream: true,
      messages: (async function* (): AsyncIterable<Message> {
        for (let index = 0; index < 3; index++) yield create(EchoStreamResponseSchema, { index });
      })(),
    }));
    const full = await handler(request(EchoService.method.echoStream));
    assert.ok(full.stream);
    for await (const _ of full.messages);
    const left = await handler(request(EchoService.method.echoStream));
    assert.ok(left.stream);
    for await (const _ of left.messages) break;
    assert.equal(Object.values(breakers.snapshot())[0]?.accepts, 2);
  });

  it("counts a stream that fails to start as a failure", async () => {
    const { handler, breakers } = setup(failWith(Code.UNAVAILABLE));
    await settle(handler(request(EchoService.method.echoStream)));
    assert.equal(Object.values(breakers.snapshot())[0]?.failures, 1);
  });
});
