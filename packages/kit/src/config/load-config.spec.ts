import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "./env.js";
import { readRateLimitConfig, readSheddingConfig } from "./load-config.js";

// The README's Security section documents these defaults: a change here must change it too.
describe("rate-limit and shedding configuration, as the README documents it", () => {
  it("is off by default", () => {
    assert.equal(readRateLimitConfig({}), false);
    assert.equal(readSheddingConfig({}), false);
  });

  it("reads a default limit, per-method limits and exemptions, local and fail-open by default", () => {
    const config = readRateLimitConfig({
      TRELLIS_RATE_LIMIT: "100/s",
      TRELLIS_RATE_LIMIT_METHODS: "trellis.user.v1.UserService/CreateUser=10/m,trellis.user.v1.UserService/WatchUsers=off",
    });
    assert.ok(config !== false);
    assert.deepEqual(config.limit, { points: 100, windowS: 1 });
    assert.deepEqual(
      [...config.methods],
      [
        ["trellis.user.v1.UserService/CreateUser", { points: 10, windowS: 60 }],
        ["trellis.user.v1.UserService/WatchUsers", "off"],
      ],
    );
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.failMode, "open");
    assert.equal(config.timeoutMs, 250);
  });

  it("shares limits through Redis with the fail mode asked for", () => {
    const config = readRateLimitConfig({
      TRELLIS_RATE_LIMIT: "5/10s",
      TRELLIS_RATE_LIMIT_REDIS: "redis://127.0.0.1:6379/2",
      TRELLIS_RATE_LIMIT_FAIL: "closed",
    });
    assert.ok(config !== false);
    assert.equal(config.redisUrl, "redis://127.0.0.1:6379/2");
    assert.equal(config.failMode, "closed");
  });

  it("names the variable of a bad value", () => {
    const bad: [Record<string, string>, string][] = [
      [{ TRELLIS_RATE_LIMIT: "100" }, "TRELLIS_RATE_LIMIT"],
      [{ TRELLIS_RATE_LIMIT: "0/s" }, "TRELLIS_RATE_LIMIT"],
      [{ TRELLIS_RATE_LIMIT_METHODS: "GetUser=5/s" }, "TRELLIS_RATE_LIMIT_METHODS"],
      [{ TRELLIS_RATE_LIMIT: "5/s", TRELLIS_RATE_LIMIT_REDIS: "http://127.0.0.1:6379" }, "TRELLIS_RATE_LIMIT_REDIS"],
      [{ TRELLIS_RATE_LIMIT: "5/s", TRELLIS_RATE_LIMIT_FAIL: "maybe" }, "TRELLIS_RATE_LIMIT_FAIL"],
      [{ TRELLIS_RATE_LIMIT_REDIS: "redis://127.0.0.1:6379" }, "TRELLIS_RATE_LIMIT_REDIS"],
      [{ TRELLIS_SHED: "yes" }, "TRELLIS_SHED"],
      [{ TRELLIS_SHED: "on", TRELLIS_SHED_ELU: "0" }, "TRELLIS_SHED_ELU"],
    ];
    for (const [env, variable] of bad) {
      assert.throws(
        () => {
          readRateLimitConfig(env);
          readSheddingConfig(env);
        },
        (error: unknown) => error instanceof ConfigError && error.variable === variable,
        JSON.stringify(env),
      );
    }
  });

  it("sheds at 95 % event-loop utilisation or 50 ms of delay, telling clients to retry in 1 s, once on", () => {
    assert.deepEqual(readSheddingConfig({ TRELLIS_SHED: "on" }), { utilizationThreshold: 0.95, delayThresholdMs: 50, retryAfterMs: 1000 });
    assert.deepEqual(
      readSheddingConfig({ TRELLIS_SHED: "on", TRELLIS_SHED_ELU: "75", TRELLIS_SHED_DELAY_MS: "20", TRELLIS_SHED_RETRY_MS: "500" }),
      {
        utilizationThreshold: 0.75,
        delayThresholdMs: 20,
        retryAfterMs: 500,
      },
    );
  });
});
