import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { createClient, closeClient } from "../client/create-client.js";
import { Code, RpcError } from "../errors/rpc-error.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { registerP2cEwma } from "./p2c-ewma.js";
import { assertLoadBalancingConfig, serviceConfigFor, type LoadBalancingPolicy } from "./service-config.js";
import { registerTrellisResolvers } from "../discovery/grpc-resolver.js";

type Behaviour = "fast" | "slow" | "unavailable";

/** A server answering Echo with its name: immediately, after 30 ms, or with UNAVAILABLE. */
function startNamed(name: string, behaviour: Behaviour): Promise<TestServer> {
  return startTestServer((s) =>
    s.addService(EchoService, {
      ...createEchoHandlers(),
      echo: async () => {
        if (behaviour === "slow") await sleep(30);
        if (behaviour === "unavailable") throw new RpcError(Code.UNAVAILABLE, `${name} is overloaded`);
        return { text: name };
      },
    }),
  );
}

/** Sends `total` calls, `concurrency` at a time, and counts which server answered (or failed). */
async function spread(target: string, policy: LoadBalancingPolicy, total: number, concurrency: number): Promise<Map<string, number>> {
  const client = createClient(EchoService, target, { channelOptions: { "grpc.service_config": serviceConfigFor(policy) } });
  const counts = new Map<string, number>();
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < total) {
      sent += 1;
      let who: string;
      try {
        who = (await client.echo({ text: "x" }, { timeoutMs: 10_000 })).text;
      } catch (error) {
        assert.ok(error instanceof RpcError && error.code === Code.UNAVAILABLE, String(error));
        who = error.message.split(" ")[0]!;
      }
      counts.set(who, (counts.get(who) ?? 0) + 1);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    closeClient(client);
  }
  return counts;
}

const share = (counts: Map<string, number>, name: string): number =>
  (counts.get(name) ?? 0) / [...counts.values()].reduce((sum, count) => sum + count, 0);

describe("p2c_ewma policy", () => {
  before(() => {
    registerTrellisResolvers();
    registerP2cEwma();
    registerP2cEwma(); // idempotent
  });

  it("is selected through grpc.service_config, which fails loudly on a mistake", () => {
    assert.equal(serviceConfigFor("p2c_ewma"), '{"loadBalancingConfig":[{"p2c_ewma":{}}]}');
    assert.equal(serviceConfigFor("round_robin"), '{"loadBalancingConfig":[{"round_robin":{}}]}');
    assert.throws(() => serviceConfigFor("roundrobin" as never), /unknown load-balancing policy "roundrobin"/);
    const config = (json: object) => ({ "grpc.service_config": JSON.stringify(json) });
    assert.doesNotThrow(() => assertLoadBalancingConfig(config({ loadBalancingConfig: [{ p2c_ewma: { decayMs: 5_000 } }] })));
    assert.throws(
      () => assertLoadBalancingConfig(config({ loadBalancingConfig: [{ p2c_ewma: { decay: 5_000 } }] })),
      /unknown field "decay"/,
    );
    assert.throws(() => assertLoadBalancingConfig(config({ loadBalancingPolicy: "round_robin" })), /loadBalancingPolicy" is ignored/);
    assert.throws(() => assertLoadBalancingConfig({ "grpc.lb_policy_name": "round_robin" }), /lb_policy_name is ignored/);
    assert.ok(grpc.experimental.isLoadBalancerNameRegistered("p2c_ewma"));
  });

  describe("with one server 30 ms slower than the others", () => {
    const servers: TestServer[] = [];
    let target = "";
    before(async () => {
      servers.push(await startNamed("fast-1", "fast"), await startNamed("fast-2", "fast"), await startNamed("slow", "slow"));
      target = `static:///${servers.map((server) => server.address).join(",")}`;
    });
    after(() => Promise.all(servers.map((server) => server.close())));

    it("sends the slow server far fewer calls than round_robin does", async (t) => {
      const roundRobin = await spread(target, "round_robin", 600, 10);
      const p2c = await spread(target, "p2c_ewma", 600, 10);
      t.diagnostic(`round_robin: ${JSON.stringify(Object.fromEntries(roundRobin))}`);
      t.diagnostic(`p2c_ewma:    ${JSON.stringify(Object.fromEntries(p2c))}`);
      assert.ok(share(roundRobin, "slow") > 0.25, `round_robin gives the slow server its third: ${share(roundRobin, "slow")}`);
      assert.ok(share(p2c, "slow") < 0.2, `p2c_ewma avoids the slow server: ${share(p2c, "slow")}`);
      assert.ok(share(p2c, "fast-1") > 0.2 && share(p2c, "fast-2") > 0.2, "and spreads over the fast ones");
    });
  });

  describe("with one server failing every call with UNAVAILABLE", () => {
    const servers: TestServer[] = [];
    let target = "";
    before(async () => {
      servers.push(await startNamed("ok-1", "fast"), await startNamed("ok-2", "fast"), await startNamed("failing", "unavailable"));
      target = `static:///${servers.map((server) => server.address).join(",")}`;
    });
    after(() => Promise.all(servers.map((server) => server.close())));

    it("treats the failures as latency and routes around the failing server", async (t) => {
      const p2c = await spread(target, "p2c_ewma", 300, 4);
      t.diagnostic(`p2c_ewma: ${JSON.stringify(Object.fromEntries(p2c))}`);
      assert.ok(share(p2c, "failing") < 0.1, `failing share ${share(p2c, "failing")}`);
    });
  });
});
