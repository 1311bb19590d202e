/**
 * Rate limits shared through a real Redis by two real user processes (npm run test:redis;
 * CI's step "redis"): one limit for both, whichever instance a call reaches; then Redis is
 * killed mid-test and each instance does what its fail mode says.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Code, closeClient, createClient, type Client } from "@trellis/kit";
import { RetryInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import {
  rpcFailure,
  startRedisTestServer,
  startServiceProcess,
  waitFor,
  type RedisTestServer,
  type ServiceProcess,
} from "@trellis/kit/testing";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { USER_MAIN } from "./user-main.js";

const LIMIT = 6;

/** A counter's value in a process' /metrics (0 when the series is absent). */
async function counter(process: ServiceProcess, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${process.adminPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe("rate limits shared across two user processes through Redis", () => {
  let redis: RedisTestServer;
  let open: ServiceProcess;
  let closed: ServiceProcess;
  const clients: Client<typeof UserService>[] = [];

  before(async () => {
    redis = await startRedisTestServer();
    const env = (failMode: string): Record<string, string> => ({
      // GetUser only, 6 a minute per caller: the window outlasts the test.
      TRELLIS_RATE_LIMIT_METHODS: `trellis.user.v1.UserService/GetUser=${LIMIT}/m`,
      TRELLIS_RATE_LIMIT_REDIS: redis.url,
      TRELLIS_RATE_LIMIT_FAIL: failMode,
      TRELLIS_METRICS: "on",
    });
    [open, closed] = await Promise.all([
      startServiceProcess(USER_MAIN, { env: env("open") }),
      startServiceProcess(USER_MAIN, { env: env("closed") }),
    ]);
    // Both connected to Redis before the first counted call.
    await waitFor(
      () => [open, closed].every((p) => p.logs.some((l) => l["event.action"] === "rate-limit-store" && l["event.outcome"] === "success")),
      "both processes connected to Redis",
    );
    // No retries: each call is counted once, and a refusal is seen as it was sent.
    for (const p of [open, closed]) clients.push(createClient(UserService, p.address, { resilience: false }));
  });

  after(async () => {
    for (const c of clients) closeClient(c);
    await Promise.all([open?.stop(), closed?.stop()]);
    await redis?.stop();
  });

  it("admits exactly the limit across both instances, then RESOURCE_EXHAUSTED with RetryInfo", async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < LIMIT + 4; i++) {
      const error = await rpcFailure(clients[i % 2]!.getUser({ id: randomUUID() }));
      outcomes.push(error.code === Code.NOT_FOUND ? "admitted" : error.code === Code.RESOURCE_EXHAUSTED ? "limited" : `code ${error.code}`);
      if (error.code === Code.RESOURCE_EXHAUSTED) {
        const delay = error.findDetail(RetryInfoSchema)?.retryDelay;
        assert.ok(delay !== undefined, "RetryInfo");
        const ms = Number(delay.seconds) * 1000 + delay.nanos / 1e6;
        assert.ok(ms > 0 && ms <= 60_000, `retry in ${ms} ms, within the minute's window`);
      }
    }
    assert.deepEqual(outcomes, [...Array<string>(LIMIT).fill("admitted"), ...Array<string>(4).fill("limited")]);
    const refused =
      (await counter(
        open,
        'trellis_rate_limited_total{grpc_service="trellis.user.v1.UserService",grpc_method="GetUser",reason="exceeded"}',
      )) +
      (await counter(
        closed,
        'trellis_rate_limited_total{grpc_service="trellis.user.v1.UserService",grpc_method="GetUser",reason="exceeded"}',
      ));
    assert.equal(refused, 4, "every refusal counted once, by the instance that refused it");
    // Methods without a limit of their own are not limited (no TRELLIS_RATE_LIMIT default here).
    for (let i = 0; i < LIMIT + 1; i++) await clients[i % 2]!.listUsers({ pageSize: 1 });
  });

  it("with Redis killed, fail-open lets calls through and fail-closed refuses them with UNAVAILABLE", async () => {
    await redis.kill();
    // Both over the limit already: only the fail mode decides now.
    for (let i = 0; i < 3; i++) {
      assert.equal((await rpcFailure(clients[0]!.getUser({ id: randomUUID() }))).code, Code.NOT_FOUND, "fail open: admitted");
      const refused = await rpcFailure(clients[1]!.getUser({ id: randomUUID() }));
      assert.equal(refused.code, Code.UNAVAILABLE, "fail closed: refused");
      assert.equal(refused.message, "rate limits cannot be checked right now; retry trellis.user.v1.UserService/GetUser later");
      assert.ok(refused.findDetail(RetryInfoSchema) !== undefined, "RetryInfo");
    }
    assert.equal(await counter(open, 'trellis_rate_limit_store_failures_total{decision="allowed"}'), 3);
    assert.equal(await counter(closed, 'trellis_rate_limit_store_failures_total{decision="refused"}'), 3);
    assert.equal(
      await counter(
        closed,
        'trellis_rate_limited_total{grpc_service="trellis.user.v1.UserService",grpc_method="GetUser",reason="store_unavailable"}',
      ),
      3,
    );
    assert.ok(
      open.logs.some((l) => l["event.action"] === "rate-limit-store" && l["log.level"] === "warn"),
      "the outage is logged",
    );
  });

  it("enforces the shared limit again once Redis is back (empty: a new window)", async () => {
    await redis.start();
    await waitFor(
      () =>
        [open, closed].every(
          (p) => p.logs.filter((l) => l["event.action"] === "rate-limit-store" && l["event.outcome"] === "success").length >= 2,
        ),
      "both processes reconnected",
    );
    const outcomes: Code[] = [];
    for (let i = 0; i < LIMIT + 2; i++) outcomes.push((await rpcFailure(clients[i % 2]!.getUser({ id: randomUUID() }))).code);
    assert.deepEqual(outcomes, [...Array<Code>(LIMIT).fill(Code.NOT_FOUND), Code.RESOURCE_EXHAUSTED, Code.RESOURCE_EXHAUSTED]);
  });
});
