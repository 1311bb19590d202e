import { afterEach, beforeEach, describe, it, mock } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { createRateLimiter, parseRateLimit, type RateDecision } from "./rate-limiter.js";

// rate-limiter-flexible reads Date.now() and sets its expiry timers itself:
// node:test's mock timers are the clock injected into it.
describe("createRateLimiter (in memory, on a mocked clock)", () => {
  beforeEach(() => mock.timers.enable({ apis: ["Date", "setTimeout"], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it("admits exactly the limit in a window, then refuses with the time left in it", async () => {
    const limiter = createRateLimiter({ limit: { points: 3, windowS: 10 } });
    const decisions: RateDecision[] = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.take("alice"));
    assert.deepEqual(decisions, [
      { outcome: "allowed", remaining: 2 },
      { outcome: "allowed", remaining: 1 },
      { outcome: "allowed", remaining: 0 },
      { outcome: "limited", retryAfterMs: 10_000 },
    ]);
    mock.timers.tick(4_000);
    assert.deepEqual(await limiter.take("alice"), { outcome: "limited", retryAfterMs: 6_000 });
    mock.timers.tick(5_999);
    assert.deepEqual(await limiter.take("alice"), { outcome: "limited", retryAfterMs: 1 });
    mock.timers.tick(1);
    assert.deepEqual(await limiter.take("alice"), { outcome: "allowed", remaining: 2 }, "a new window starts when the old one ends");
  });

  it("counts each key on its own", async () => {
    const limiter = createRateLimiter({ limit: { points: 1, windowS: 1 } });
    assert.equal((await limiter.take("alice")).outcome, "allowed");
    assert.equal((await limiter.take("bob")).outcome, "allowed");
    assert.deepEqual(await limiter.take("alice"), { outcome: "limited", retryAfterMs: 1000 });
    assert.deepEqual(await limiter.take("bob"), { outcome: "limited", retryAfterMs: 1000 });
  });

  it("refuses limits that admit nothing", () => {
    assert.throws(() => createRateLimiter({ limit: { points: 0, windowS: 1 } }), RangeError);
    assert.throws(() => createRateLimiter({ limit: { points: 1, windowS: 0.5 } }), RangeError);
  });
});

describe("parseRateLimit", () => {
  it("reads calls per window", () => {
    assert.deepEqual(parseRateLimit("100/s"), { points: 100, windowS: 1 });
    assert.deepEqual(parseRateLimit("20/10s"), { points: 20, windowS: 10 });
    assert.deepEqual(parseRateLimit("600/m"), { points: 600, windowS: 60 });
    assert.deepEqual(parseRateLimit("5000/h"), { points: 5000, windowS: 3600 });
    assert.deepEqual(parseRateLimit("5/2m"), { points: 5, windowS: 120 });
  });

  it("refuses anything else", () => {
    for (const bad of ["", "100", "100/", "100/d", "0/s", "5/0s", "-1/s", "1.5/s", "abc"])
      assert.throws(() => parseRateLimit(bad), RangeError, bad);
  });
});

describe("createRateLimiter with its Redis down", () => {
  let redis: Redis;
  beforeEach(async () => {
    // A port nothing listens on: connections are refused at once.
    const probe = createServer();
    probe.listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    redis = new Redis({ host: "127.0.0.1", port, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    redis.on("error", () => undefined);
  });
  afterEach(() => redis.disconnect());

  it("lets calls through with fail mode open", async () => {
    const limiter = createRateLimiter({ limit: { points: 1, windowS: 60 }, redis, failMode: "open" });
    for (let i = 0; i < 3; i++) {
      const decision = await limiter.take("alice");
      assert.equal(decision.outcome, "store_failed");
      assert.equal(decision.outcome === "store_failed" && decision.allowed, true);
    }
  });

  it("refuses calls with fail mode closed", async () => {
    const limiter = createRateLimiter({ limit: { points: 1, windowS: 60 }, redis, failMode: "closed" });
    const decision = await limiter.take("alice");
    assert.equal(decision.outcome, "store_failed");
    assert.equal(decision.outcome === "store_failed" && decision.allowed, false);
  });
});
