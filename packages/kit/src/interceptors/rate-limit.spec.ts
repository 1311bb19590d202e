import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { DescMethod } from "@bufbuild/protobuf";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { createContextValues } from "../call/context-values.js";
import type { CallResponse } from "../call/interceptor.js";
import { Code } from "../errors/code.js";
import type { RateDecision, RateLimiter } from "../resilience/rate-limiter.js";
import { principalKey } from "../security/principal.js";
import { peerIdentityKey } from "../security/spiffe-id.js";
import { createTestRequest } from "../testing/test-call-context.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { callerKey, createRateLimitInterceptor, type RateLimitRefusal } from "./rate-limit.js";

const OK: CallResponse = { stream: false, message: {} };

/** A limiter answering from a script, recording the keys it was asked for. */
function scripted(...decisions: RateDecision[]): RateLimiter & { readonly keys: string[] } {
  const keys: string[] = [];
  return {
    limit: { points: 1, windowS: 1 },
    keys,
    take: async (key) => {
      keys.push(key);
      const next = decisions.shift();
      assert.ok(next !== undefined, "asked more often than scripted");
      return next;
    },
  };
}

const principal = { subject: "alice", scopes: [], roles: [], issuer: "https://issuer.test", expiresAt: 0, claims: {} };
const peer = { spiffeId: "spiffe://trellis.local/ns/default/sa/chat", trustDomain: "trellis.local", namespace: "default", service: "chat" };

describe("callerKey", () => {
  it("counts the verified user first, then the mTLS peer, then the address without its port", () => {
    assert.equal(
      callerKey({ peer: "10.0.0.7:50123", values: createContextValues().set(principalKey, principal).set(peerIdentityKey, peer) }),
      "user:https://issuer.test|alice",
    );
    assert.equal(
      callerKey({ peer: "10.0.0.7:50123", values: createContextValues().set(peerIdentityKey, peer) }),
      "peer:spiffe://trellis.local/ns/default/sa/chat",
    );
    assert.equal(callerKey({ peer: "10.0.0.7:50123", values: createContextValues() }), "addr:10.0.0.7");
    assert.equal(callerKey({ peer: "[::1]:50123", values: createContextValues() }), "addr:::1");
  });
});

describe("createRateLimitInterceptor", () => {
  const echo = EchoService.method.echo;

  it("passes an allowed call on, counted per method and caller", async () => {
    const limiter = scripted({ outcome: "allowed", remaining: 4 });
    const interceptor = createRateLimitInterceptor({ limiterFor: () => limiter });
    const response = await interceptor(async () => OK)(createTestRequest({ method: echo, message: {}, peer: "127.0.0.1:4000" }));
    assert.equal(response, OK);
    assert.deepEqual(limiter.keys, ["trellis.kittest.v1.EchoService/Echo|addr:127.0.0.1"]);
  });

  it("refuses a call over the limit with RESOURCE_EXHAUSTED, RetryInfo and ErrorInfo, and never runs it", async () => {
    const refused: [DescMethod, RateLimitRefusal][] = [];
    const interceptor = createRateLimitInterceptor({
      limiterFor: () => scripted({ outcome: "limited", retryAfterMs: 1500 }),
      onRefused: (m, r) => refused.push([m, r]),
    });
    const error = await rpcFailure(
      interceptor(async () => assert.fail("the handler ran"))(createTestRequest({ method: echo, message: {} })),
    );
    assert.equal(error.code, Code.RESOURCE_EXHAUSTED);
    assert.equal(error.message, "rate limit exceeded for trellis.kittest.v1.EchoService/Echo; retry in 1500 ms");
    const delay = error.findDetail(RetryInfoSchema)?.retryDelay;
    assert.deepEqual([delay?.seconds, delay?.nanos], [1n, 500_000_000]);
    assert.equal(error.findDetail(ErrorInfoSchema)?.reason, "RATE_LIMITED");
    assert.deepEqual(refused, [[echo, "exceeded"]]);
  });

  it("with the store down, passes the call when the fail mode is open", async () => {
    const failures: boolean[] = [];
    const interceptor = createRateLimitInterceptor({
      limiterFor: () => scripted({ outcome: "store_failed", allowed: true, error: new Error("down") }),
      onStoreFailure: (_e, allowed) => failures.push(allowed),
    });
    assert.equal(await interceptor(async () => OK)(createTestRequest({ method: echo, message: {} })), OK);
    assert.deepEqual(failures, [true]);
  });

  it("with the store down, refuses with UNAVAILABLE and RetryInfo when the fail mode is closed", async () => {
    const refused: RateLimitRefusal[] = [];
    const interceptor = createRateLimitInterceptor({
      limiterFor: () => scripted({ outcome: "store_failed", allowed: false, error: new Error("down") }),
      onRefused: (_m, r) => refused.push(r),
    });
    const error = await rpcFailure(
      interceptor(async () => assert.fail("the handler ran"))(createTestRequest({ method: echo, message: {} })),
    );
    assert.equal(error.code, Code.UNAVAILABLE);
    assert.equal(error.findDetail(RetryInfoSchema)?.retryDelay?.seconds, 1n);
    assert.deepEqual(refused, ["store_unavailable"]);
  });

  it("leaves unlimited methods and client calls alone", async () => {
    const interceptor = createRateLimitInterceptor({ limiterFor: (method) => (method === echo ? scripted() : undefined) });
    assert.equal(await interceptor(async () => OK)(createTestRequest({ method: EchoService.method.echoStream, message: {} })), OK);
    assert.equal(await interceptor(async () => OK)(createTestRequest({ method: echo, message: {}, side: "client" })), OK);
  });
});
