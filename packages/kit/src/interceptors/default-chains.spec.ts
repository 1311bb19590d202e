import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, type DescMethod } from "@bufbuild/protobuf";
import { Code, RpcError } from "../errors/rpc-error.js";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { chain, type CallRequest, type Next } from "../call/interceptor.js";
import type { CallContext } from "../call/call-context.js";
import { ClientCall } from "../client/client-call.js";
import { createLogger } from "../observability/logger.js";
import { createBreakerRegistry } from "../resilience/breaker-registry.js";
import { defaultClientInterceptors } from "./default-chains.js";
import { createRetryStats } from "../resilience/retry-stats.js";

const NOW = 1_700_000_000_000;

/** A client call as createClient makes it (no signal, no deadline unless given). */
function request(options: { deadline?: number } = {}, method: DescMethod = EchoService.method.echo): CallRequest {
  const context = new ClientCall({ method, target: "dns:///echo", logger: createLogger({ level: "silent" }), ...options });
  return { stream: false, method, context, message: create(EchoRequestSchema) };
}

describe("default client interceptors", () => {
  it("has deadline, breaker and retry, each switched off by one option", () => {
    assert.equal(defaultClientInterceptors().length, 3);
    assert.equal(defaultClientInterceptors({ retry: false }).length, 2);
    assert.equal(defaultClientInterceptors({ deadline: false, breaker: false, retry: false }).length, 0);
  });

  it("runs retries inside the breaker, and the breaker inside the deadline", async () => {
    const breakers = createBreakerRegistry({ now: () => NOW });
    const stats = createRetryStats();
    const seen: CallContext[] = [];
    let calls = 0;
    const backend: Next = async (r) => {
      seen.push(r.context);
      if (++calls < 3) throw new RpcError(Code.UNAVAILABLE, "flaky");
      return { stream: false, message: create(EchoResponseSchema) };
    };
    const handler = chain(
      defaultClientInterceptors({
        deadline: { defaultTimeoutMs: 250, now: () => NOW },
        breaker: { breakers },
        retry: { isIdempotent: () => true, stats, now: () => NOW, sleep: async () => undefined },
      }),
      backend,
    );
    await handler(request());
    assert.deepEqual(stats.snapshot(), { attempts: 3, retries: 2, budgetExhausted: 0 });
    assert.ok(
      seen.every((o) => o.deadline === NOW + 250),
      "every attempt carries the deadline",
    );
    const snapshot = Object.values(breakers.snapshot());
    assert.equal(snapshot.length, 1);
    assert.deepEqual(snapshot[0], { requests: 1, accepts: 1, failures: 0, drops: 0, totalDrops: 0, dropRatio: 0, state: "closed" });
  });

  it("does not count a call whose deadline has passed against the backend", async () => {
    const breakers = createBreakerRegistry();
    const handler = chain(defaultClientInterceptors({ breaker: { breakers } }), () => assert.fail("must not send"));
    const error = await handler(request({ deadline: Date.now() - 1 })).catch((e: unknown) => e);
    assert.ok(error instanceof RpcError);
    assert.equal(error.code, Code.DEADLINE_EXCEEDED);
    assert.deepEqual(breakers.snapshot(), {});
  });
});
