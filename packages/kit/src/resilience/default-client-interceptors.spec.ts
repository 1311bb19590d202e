import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, type DescMethod } from "@bufbuild/protobuf";
import { Code, RpcError } from "../errors/rpc-error.js";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import type { ClientCallOptions, ClientNext, ClientRequest } from "../interceptors/client-interceptor.js";
import { chain } from "../interceptors/interceptor.js";
import { createBreakerRegistry } from "./breaker-registry.js";
import { defaultClientInterceptors } from "./default-client-interceptors.js";
import { createRetryStats } from "./retry-stats.js";

const NOW = 1_700_000_000_000;

function request(options: Partial<ClientCallOptions> = {}, method: DescMethod = EchoService.method.echo): ClientRequest {
  return { stream: false, method, target: "dns:///echo", message: create(EchoRequestSchema), options: { metadata: {}, ...options } };
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
    const seen: ClientCallOptions[] = [];
    let calls = 0;
    const backend: ClientNext = async (r) => {
      seen.push(r.options);
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
    assert.ok(seen.every((o) => o.deadline === NOW + 250), "every attempt carries the deadline");
    const snapshot = Object.values(breakers.snapshot());
    assert.equal(snapshot.length, 1);
    assert.deepEqual(snapshot[0], { requests: 1, accepts: 1, failures: 0, drops: 0, dropRatio: 0, state: "closed" });
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
