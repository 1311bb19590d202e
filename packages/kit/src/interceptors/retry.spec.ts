import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, createFileRegistry, type DescMethod } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { retryInfo } from "../errors/error-details.js";
import { Code, RpcError, type RpcErrorOptions } from "../errors/rpc-error.js";
import { codeName } from "../errors/code.js";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import type { CallRequest, Next } from "../call/interceptor.js";
import { createRetryBudget } from "../resilience/retry-budget.js";
import { createRetryInterceptor, isIdempotentMethod, type RetryInterceptorOptions } from "./retry.js";
import { createRetryStats } from "../resilience/retry-stats.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { createTestRequest } from "../testing/test-call-context.js";

/**
 * A service built at run time, so methods can carry `idempotency_level`
 * without a generated test file (EchoService's methods have none).
 */
const RetryTestService = (() => {
  const empty = ".trellis.kittest.v1.Empty";
  const method = (name: string, idempotencyLevel?: MethodOptions_IdempotencyLevel) => ({
    name,
    inputType: empty,
    outputType: empty,
    ...(idempotencyLevel === undefined ? {} : { options: { idempotencyLevel } }),
  });
  const registry = createFileRegistry(
    create(FileDescriptorProtoSchema, {
      name: "trellis/kittest/v1/retry_test.proto",
      package: "trellis.kittest.v1",
      syntax: "proto3",
      messageType: [{ name: "Empty" }],
      service: [
        {
          name: "RetryTestService",
          method: [
            method("Get", MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS),
            method("Put", MethodOptions_IdempotencyLevel.IDEMPOTENT),
            method("Create"),
          ],
        },
      ],
    }),
    () => undefined,
  );
  const service = registry.getService("trellis.kittest.v1.RetryTestService");
  assert.ok(service);
  const byName = (name: string): DescMethod => {
    const found = service.methods.find((m) => m.name === name);
    assert.ok(found);
    return found;
  };
  return { get: byName("Get"), put: byName("Put"), create: byName("Create") };
})();

const always = (): boolean => true;

function request(options: { deadline?: number; signal?: AbortSignal } = {}, method: DescMethod = EchoService.method.echo): CallRequest {
  return createTestRequest({ side: "client", method, target: "dns:///echo", message: create(EchoRequestSchema), ...options });
}

function failure(code: Code, options?: RpcErrorOptions): RpcError {
  return new RpcError(code, `attempt failed with ${codeName(code)}`, options);
}

/** A backend that answers from a script (an error to throw, or "ok"), repeating the last entry. */
function scripted(script: readonly (RpcError | "ok")[]): Next & { calls: () => number } {
  let calls = 0;
  const next = async () => {
    const step = script[Math.min(calls++, script.length - 1)];
    if (step === undefined || step === "ok") return { stream: false as const, message: create(EchoResponseSchema, { text: "ok" }) };
    throw step;
  };
  return Object.assign(next, { calls: () => calls });
}

/** A retry interceptor on a fake clock whose sleep only moves the clock. */
function setup(backend: Next, options: RetryInterceptorOptions = {}) {
  const clock = { t: 1_000_000 };
  const sleeps: number[] = [];
  const stats = createRetryStats();
  const handler = createRetryInterceptor({
    isIdempotent: always,
    random: () => 1,
    now: () => clock.t,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.t += ms;
    },
    stats,
    ...options,
  })(backend);
  return { handler, clock, sleeps, stats };
}

describe("retry interceptor", () => {
  it("retries UNAVAILABLE on an idempotent method up to maxAttempts, then fails with the last error", async () => {
    const last = failure(Code.UNAVAILABLE);
    const backend = scripted([failure(Code.UNAVAILABLE), failure(Code.UNAVAILABLE), last]);
    const { handler, stats } = setup(backend);
    assert.equal(await rpcFailure(handler(request())), last);
    assert.equal(backend.calls(), 3);
    assert.deepEqual(stats.snapshot(), { attempts: 3, retries: 2, budgetExhausted: 0 });
  });

  it("returns the first success", async () => {
    const backend = scripted([failure(Code.UNAVAILABLE), "ok"]);
    const { handler } = setup(backend, { maxAttempts: 5 });
    const response = await handler(request());
    assert.equal(response.stream, false);
    assert.equal(backend.calls(), 2);
  });

  it("backs off exponentially with full jitter, up to backoff.maxMs", async () => {
    const { handler, sleeps } = setup(scripted([failure(Code.UNAVAILABLE)]), {
      maxAttempts: 6,
      backoff: { maxMs: 300 },
      budget: createRetryBudget({ maxTokens: 100 }),
    });
    await rpcFailure(handler(request()));
    assert.deepEqual(sleeps, [50, 100, 200, 300, 300]);
    const half = setup(scripted([failure(Code.UNAVAILABLE)]), { random: () => 0.5 });
    await rpcFailure(half.handler(request()));
    assert.deepEqual(half.sleeps, [25, 50]);
  });

  it("reads idempotency_level by default: NO_SIDE_EFFECTS and IDEMPOTENT are retried, others are not", async () => {
    assert.equal(isIdempotentMethod(RetryTestService.get), true);
    assert.equal(isIdempotentMethod(RetryTestService.put), true);
    assert.equal(isIdempotentMethod(RetryTestService.create), false);
    assert.equal(isIdempotentMethod(EchoService.method.echo), false);
    for (const [method, attempts] of [
      [RetryTestService.get, 3],
      [RetryTestService.put, 3],
      [RetryTestService.create, 1],
      [EchoService.method.echo, 1],
    ] as const) {
      const backend = scripted([failure(Code.UNAVAILABLE)]);
      const { handler } = setup(backend, { isIdempotent: isIdempotentMethod });
      await rpcFailure(handler(request({}, method)));
      assert.equal(backend.calls(), attempts, method.name);
    }
  });

  for (const code of [
    Code.NOT_FOUND,
    Code.INVALID_ARGUMENT,
    Code.INTERNAL,
    Code.DEADLINE_EXCEEDED,
    Code.CANCELLED,
    Code.RESOURCE_EXHAUSTED,
  ]) {
    it(`does not retry ${codeName(code)}`, async () => {
      const backend = scripted([failure(code)]);
      const { handler, sleeps } = setup(backend);
      assert.equal((await rpcFailure(handler(request()))).code, code);
      assert.equal(backend.calls(), 1);
      assert.deepEqual(sleeps, []);
    });
  }

  it("never retries streams, whose requests cannot be replayed or whose responses may have arrived", async () => {
    for (const method of [EchoService.method.echoStream, EchoService.method.collect, EchoService.method.converse]) {
      const backend = scripted([failure(Code.UNAVAILABLE)]);
      const { handler } = setup(backend);
      await rpcFailure(handler(request({}, method)));
      assert.equal(backend.calls(), 1, method.name);
    }
  });

  it("waits as long as the server's RetryInfo says, and retries RESOURCE_EXHAUSTED only with it", async () => {
    const limited = failure(Code.RESOURCE_EXHAUSTED, { details: [retryInfo(700)] });
    const backend = scripted([limited, "ok"]);
    const { handler, sleeps } = setup(backend);
    await handler(request());
    assert.deepEqual(sleeps, [700]);
    const pushback = setup(scripted([failure(Code.UNAVAILABLE, { details: [retryInfo(1500)] }), "ok"]));
    await pushback.handler(request());
    assert.deepEqual(pushback.sleeps, [1500], "RetryInfo wins over the backoff, even past backoff.maxMs");
  });

  it("gives up with the last error rather than sleep past the deadline", async () => {
    const clockStart = 1_000_000;
    const last = failure(Code.UNAVAILABLE);
    const backend = scripted([failure(Code.UNAVAILABLE), last]);
    // Attempt 1 fails, sleeps 50 (t+50); attempt 2 fails; a 100 ms sleep would end at t+150 > t+120.
    const { handler, sleeps } = setup(backend, { maxAttempts: 5 });
    assert.equal(await rpcFailure(handler(request({ deadline: clockStart + 120 }))), last);
    assert.equal(backend.calls(), 2);
    assert.deepEqual(sleeps, [50]);
    const pushedPast = setup(scripted([failure(Code.RESOURCE_EXHAUSTED, { details: [retryInfo(5000)] })]));
    assert.equal((await rpcFailure(pushedPast.handler(request({ deadline: clockStart + 1000 })))).code, Code.RESOURCE_EXHAUSTED);
    assert.deepEqual(pushedPast.sleeps, []);
  });

  it("stops when the call is cancelled while waiting to retry", async () => {
    const controller = new AbortController();
    const backend = scripted([failure(Code.UNAVAILABLE)]);
    const handler = createRetryInterceptor({
      isIdempotent: always,
      maxAttempts: 10,
      sleep: async (_ms, signal) => {
        assert.equal(signal, controller.signal, "the sleep is cut short by the call's signal");
        controller.abort();
      },
    })(backend);
    const error = await rpcFailure(handler(request({ signal: controller.signal })));
    assert.equal(error.code, Code.CANCELLED);
    assert.equal(backend.calls(), 1);
  });

  it("passes a server call's cancellation reason on, and does not start a retry after an abort", async () => {
    const controller = new AbortController();
    const reason = new RpcError(Code.DEADLINE_EXCEEDED, "the calling request timed out");
    const backend: Next = async () => {
      controller.abort(reason);
      throw failure(Code.UNAVAILABLE);
    };
    const { handler, sleeps } = setup(backend);
    assert.equal(await rpcFailure(handler(request({ signal: controller.signal }))), reason);
    assert.deepEqual(sleeps, []);
  });

  it("stops retrying when the budget runs out: a failing backend gets far fewer than 3× attempts", async () => {
    // gRPC's throttling alone (the reserve is tested below).
    const budget = createRetryBudget({ minRetriesPerSecond: 0 });
    const backend = scripted([failure(Code.UNAVAILABLE)]);
    const { handler, stats } = setup(backend, { budget });
    for (let i = 0; i < 100; i++) await rpcFailure(handler(request()));
    // 10 tokens, retries while > 5: a handful of retries, then one attempt per call.
    assert.ok(backend.calls() <= 110, `${backend.calls()} attempts for 100 calls`);
    const counters = stats.snapshot();
    assert.equal(counters.attempts, backend.calls());
    assert.equal(counters.retries, backend.calls() - 100);
    assert.ok(counters.budgetExhausted >= 90, JSON.stringify(counters));
    assert.equal(budget.snapshot().tokens, 0);
  });

  it("retries every call an instance had in flight when it died, though they outnumber half the tokens", async () => {
    // Eight calls fail at once (the instance they were on is gone), then each retry succeeds elsewhere.
    const outcome = async (minRetriesPerSecond?: number): Promise<{ failed: number; retries: number }> => {
      const budget = createRetryBudget({ now: () => 0, ...(minRetriesPerSecond === undefined ? {} : { minRetriesPerSecond }) });
      let gate!: () => void;
      const allFailed = new Promise<void>((resolve) => (gate = resolve));
      let firstAttempts = 0;
      const backend: Next = async (call) => {
        const attempt = (attempts.get(call) ?? 0) + 1;
        attempts.set(call, attempt);
        if (attempt > 1) return { stream: false, message: create(EchoResponseSchema, { text: "ok" }) };
        if (++firstAttempts === 8) gate();
        await allFailed;
        throw failure(Code.UNAVAILABLE);
      };
      const attempts = new Map<CallRequest, number>();
      const { handler, stats } = setup(backend, { budget });
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => handler(request())));
      return { failed: results.filter((r) => r.status === "rejected").length, retries: stats.snapshot().retries };
    };
    assert.deepEqual(
      await outcome(0),
      { failed: 4, retries: 4 },
      "gRPC's throttling alone: 10 tokens, each failure spends one, retries while more than 5 remain",
    );
    assert.deepEqual(await outcome(), { failed: 0, retries: 8 });
  });

  it("retries again once successes have refilled the budget", async () => {
    const budget = createRetryBudget({ maxTokens: 10, tokenRatio: 0.1, minRetriesPerSecond: 0 });
    for (let i = 0; i < 10; i++) budget.onFailure();
    let fail = true;
    const backend: Next = async () => {
      if (fail) throw failure(Code.UNAVAILABLE);
      return { stream: false, message: create(EchoResponseSchema) };
    };
    const { handler, stats } = setup(backend, { budget, maxAttempts: 2 });
    await rpcFailure(handler(request()));
    assert.equal(stats.snapshot().retries, 0);
    fail = false;
    // 70 × 0.1 = 7 tokens; the next failure spends one, leaving 6 > 5.
    for (let i = 0; i < 70; i++) await handler(request());
    fail = true;
    await rpcFailure(handler(request()));
    assert.equal(stats.snapshot().retries, 1);
  });
});
