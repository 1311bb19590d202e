import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry, type OpenMetricsContentType } from "prom-client";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { createStaticRegistry } from "../discovery/static-registry.js";
import { Code, RpcError } from "../errors/rpc-error.js";
import { createBreakerRegistry } from "../resilience/breaker-registry.js";
import { createRetryBudget } from "../resilience/retry-budget.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";
import type { ServiceImpl } from "../server/service-impl.js";
import { createClientMetrics, type ClientMetrics } from "./client-metrics.js";
import { closeClient, createClient } from "./create-client.js";

const ECHO = "trellis.kittest.v1.EchoService/Echo";

function setup(): { registry: Registry<OpenMetricsContentType>; metrics: ClientMetrics } {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return { registry, metrics: createClientMetrics(registry) };
}

/** Every series of a family as `{labels…} value`, the way a scrape shows them (collect runs first). */
async function series(registry: Registry<OpenMetricsContentType>, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `${name} is registered`);
  const out: Record<string, number> = {};
  for (const { labels, value } of (await metric.get()).values) out[JSON.stringify(labels)] = value;
  return out;
}

/** An Echo that answers UNAVAILABLE while `failing()` says so. */
function flaky(failing: () => boolean): ServiceImpl<typeof EchoService> {
  return {
    ...createEchoHandlers(),
    async echo(request) {
      if (failing()) throw new RpcError(Code.UNAVAILABLE, "down");
      return { text: request.text };
    },
  };
}

describe("client metrics", () => {
  const servers: TestServer[] = [];
  const start = async (handlers: ServiceImpl<typeof EchoService>): Promise<TestServer> => {
    const server = await startTestServer((s) => s.addService(EchoService, handlers));
    servers.push(server);
    return server;
  };
  after(async () => {
    for (const server of servers) await server.close();
  });

  it("shows a breaker tripped by 6 failures as throttling, with the 4 calls it refused as rejections", async () => {
    const { registry, metrics } = setup();
    const server = await start(flaky(() => true));
    // random 0: once the drop ratio is positive every call is dropped; a frozen clock: no forced probe.
    const breakers = createBreakerRegistry({ random: () => 0, now: () => 1_000_000 });
    const client = createClient(EchoService, server.address, { metrics, resilience: { retry: false, breaker: { breakers } } });
    const codes: Code[] = [];
    for (let i = 0; i < 10; i++) codes.push((await rpcFailure(client.echo({ text: "x" }))).code);
    // (requests − 5 − K·accepts) / (requests + 1) turns positive after the 6th failure.
    assert.deepEqual(
      codes,
      Array.from({ length: 10 }, () => Code.UNAVAILABLE),
    );
    const labels = JSON.stringify({ target: server.address, method: ECHO });
    assert.deepEqual(await series(registry, "trellis_breaker_state"), { [labels]: 1 });
    assert.deepEqual(await series(registry, "trellis_breaker_rejections_total"), { [labels]: 4 });
    assert.deepEqual(
      await series(registry, "trellis_balancer_picks_total"),
      { [JSON.stringify({ target: server.address, endpoint: server.address })]: 6 },
      "only sent calls reach an endpoint",
    );
    assert.deepEqual(await series(registry, "trellis_retry_attempts_total"), {}, "retries are off: no retry series");
    closeClient(client);
  });

  it("counts attempts, retries and retries the budget refused, per target", async () => {
    const { registry, metrics } = setup();
    let calls = 0;
    // Fails the first two attempts of each call, then answers.
    const server = await start(flaky(() => calls++ % 3 !== 2));
    const retry = { isIdempotent: () => true, sleep: async () => undefined };
    const client = createClient(EchoService, server.address, { metrics, resilience: { breaker: false, retry } });
    await client.echo({ text: "a" });
    await client.echo({ text: "b" });
    const target = JSON.stringify({ target: server.address });
    assert.deepEqual(await series(registry, "trellis_retry_attempts_total"), { [target]: 6 });
    assert.deepEqual(await series(registry, "trellis_retry_retries_total"), { [target]: 4 });
    assert.deepEqual(await series(registry, "trellis_retry_budget_exhausted_total"), { [target]: 0 });

    // A budget of 2 tokens allows retries while more than 1 is left: the first failure spends one, the next retry is refused.
    const down = await start(flaky(() => true));
    const stingy = createClient(EchoService, down.address, {
      metrics,
      resilience: { breaker: false, retry: { ...retry, budget: createRetryBudget({ maxTokens: 2, minRetriesPerSecond: 0 }) } },
    });
    await rpcFailure(stingy.echo({ text: "c" }));
    const downTarget = JSON.stringify({ target: down.address });
    assert.equal((await series(registry, "trellis_retry_attempts_total"))[downTarget], 1);
    assert.equal((await series(registry, "trellis_retry_budget_exhausted_total"))[downTarget], 1);
    assert.equal((await series(registry, "trellis_retry_attempts_total"))[target], 6, "each target keeps its own series");
    closeClient(client);
    closeClient(stingy);
  });

  it("counts round_robin picks per endpoint, one per call, summing to the calls made", async () => {
    const { registry, metrics } = setup();
    const a = await start(createEchoHandlers());
    const b = await start(createEchoHandlers());
    const target = `static:///${a.address},${b.address}`;
    const client = createClient(EchoService, target, { metrics, loadBalancing: "round_robin", resilience: false });
    let calls = 0;
    const seen = async (): Promise<Record<string, number>> => series(registry, "trellis_balancer_picks_total");
    // Until both subchannels are READY every call goes to the first; then round_robin alternates.
    while (Object.keys(await seen()).length < 2 && calls < 500) {
      await client.echo({ text: "x" });
      calls++;
    }
    for (let i = 0; i < 10; i++, calls++) await client.echo({ text: "x" });
    const picks = await seen();
    assert.deepEqual(
      Object.keys(picks).sort(),
      [JSON.stringify({ target, endpoint: a.address }), JSON.stringify({ target, endpoint: b.address })].sort(),
    );
    assert.equal(
      Object.values(picks).reduce((sum, n) => sum + n, 0),
      calls,
    );
    closeClient(client);
  });

  it("counts p2c_ewma picks the same way, and keeps them after the client is closed", async () => {
    const { registry, metrics } = setup();
    const a = await start(createEchoHandlers());
    const client = createClient(EchoService, `static:///${a.address}`, { metrics, resilience: false });
    for (let i = 0; i < 7; i++) await client.echo({ text: "x" });
    closeClient(client);
    assert.deepEqual(await series(registry, "trellis_balancer_picks_total"), {
      [JSON.stringify({ target: `static:///${a.address}`, endpoint: a.address })]: 7,
    });
  });

  it("does not count a call that never reached an endpoint", async () => {
    const { registry, metrics } = setup();
    const client = createClient(EchoService, "static:///127.0.0.1:1", { metrics, resilience: false });
    assert.equal((await rpcFailure(client.echo({ text: "x" }))).code, Code.UNAVAILABLE);
    assert.deepEqual(await series(registry, "trellis_balancer_picks_total"), {});
    closeClient(client);
  });

  it("reports the instance set each discovery watch last saw", async () => {
    const { registry, metrics } = setup();
    const a = await start(createEchoHandlers());
    const b = await start(createEchoHandlers());
    const discovery = createStaticRegistry({ echo: [a.address, b.address] });
    const client = createClient(EchoService, "static:///echo", { metrics, discovery, resilience: false });
    await client.echo({ text: "x" });
    assert.deepEqual(await series(registry, "trellis_registry_instances"), { [JSON.stringify({ service: "echo" })]: 2 });
    closeClient(client);
    await discovery.close();
  });

  it("keeps the registry's scheme, so a target naming another backend still fails loudly", () => {
    const { metrics } = setup();
    const discovery = createStaticRegistry({});
    assert.throws(() => createClient(EchoService, "etcd:///echo", { metrics, discovery }), /"static" registry, not "etcd"/);
  });
});
