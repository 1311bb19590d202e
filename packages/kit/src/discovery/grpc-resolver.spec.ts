import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { createClient, type Client, closeClient } from "../client/create-client.js";
import { Code } from "../errors/rpc-error.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { registerP2cEwma } from "../balancer/p2c-ewma.js";
import { serviceConfigFor } from "../balancer/service-config.js";
import type { Discovery, ServiceInstance } from "./registry.js";
import { discoveryChannelOptions, parseAddressList, registerTrellisResolvers } from "./grpc-resolver.js";
import { rpcFailure } from "../testing/rpc-failure.js";

/** A server that answers Echo with its own name, so a test sees who served each call. */
interface NamedServer {
  readonly name: string;
  readonly port: number;
  readonly instance: ServiceInstance;
  close(): Promise<void>;
}

async function startNamed(name: string): Promise<NamedServer> {
  const server: TestServer = await startTestServer((s) =>
    s.addService(EchoService, { ...createEchoHandlers(), echo: async () => ({ text: name }) }),
  );
  const port = Number(server.address.split(":")[1]);
  return { name, port, instance: { id: `echo-${name}`, service: "echo", host: "127.0.0.1", port }, close: () => server.close() };
}

/** A Discovery whose sets the test pushes; `push` resolves once every live watch has processed the set. */
interface FakeDiscovery extends Discovery {
  push(instances: readonly ServiceInstance[]): Promise<void>;
  readonly signals: AbortSignal[];
}

function createFakeDiscovery(
  options: { readonly failWith?: Error; readonly failures?: number; readonly scheme?: string } = {},
): FakeDiscovery {
  let failures = options.failures ?? Number.POSITIVE_INFINITY;
  let current: readonly ServiceInstance[] | undefined;
  let version = 0;
  const wakers = new Set<() => void>();
  const acks = new Set<{ readonly version: number; readonly resolve: () => void }>();
  let consumed = 0;
  const signals: AbortSignal[] = [];
  const acknowledge = (upTo: number): void => {
    consumed = Math.max(consumed, upTo);
    for (const ack of acks) {
      if (ack.version > consumed) continue;
      acks.delete(ack);
      ack.resolve();
    }
  };
  return {
    ...(options.scheme === undefined ? {} : { scheme: options.scheme }),
    signals,
    push(instances) {
      current = instances;
      version += 1;
      const pushed = version;
      for (const wake of wakers) wake();
      return new Promise((resolve) => acks.add({ version: pushed, resolve }));
    },
    watch(_service, signal) {
      signals.push(signal);
      return (async function* () {
        if (options.failWith && failures > 0) {
          failures -= 1;
          throw options.failWith;
        }
        let seen = 0;
        while (!signal.aborted) {
          if (current !== undefined && seen < version) {
            seen = version;
            yield current;
            // Resumed: the consumer asked for the next set, so it has handled this one.
            acknowledge(seen);
            continue;
          }
          await new Promise<void>((resolve) => {
            wakers.add(resolve);
            signal.addEventListener("abort", () => resolve(), { once: true });
          });
          wakers.clear();
        }
      })();
    },
  };
}

async function tally(client: Client<typeof EchoService>, calls: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < calls; i += 1) {
    const { text } = await client.echo({ text: "x" }, { timeoutMs: 5_000 });
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  return counts;
}

describe("grpc resolver bridge: discovery targets", () => {
  const servers: NamedServer[] = [];
  const clients: object[] = [];
  before(async () => {
    registerTrellisResolvers();
    registerTrellisResolvers(); // idempotent
    registerP2cEwma();
    for (const name of ["a", "b", "c"]) servers.push(await startNamed(name));
  });
  after(async () => {
    for (const client of clients) closeClient(client);
    await Promise.all(servers.map((server) => server.close()));
  });
  const a = (): NamedServer => servers[0]!;
  const b = (): NamedServer => servers[1]!;
  const c = (): NamedServer => servers[2]!;
  const clientFor = (discovery: Discovery, target = "etcd:///echo", policy: "round_robin" | "p2c_ewma" = "round_robin") => {
    const client = createClient(EchoService, target, {
      channelOptions: { ...discoveryChannelOptions(discovery), "grpc.service_config": serviceConfigFor(policy) },
    });
    clients.push(client);
    return client;
  };

  for (const policy of ["round_robin", "p2c_ewma"] as const) {
    it(`spreads calls over the current set and follows additions and removals (${policy})`, async () => {
      const discovery = createFakeDiscovery();
      const client = clientFor(discovery, "etcd:///echo", policy);
      void discovery.push([a().instance, b().instance]);
      const first = await tally(client, 20);
      if (policy === "round_robin") assert.ok((first.get("a") ?? 0) > 0 && (first.get("b") ?? 0) > 0, `both serve: ${[...first]}`);
      assert.equal(first.get("c"), undefined);

      await discovery.push([a().instance, b().instance, c().instance]);
      let reachedNew = false;
      for (let attempt = 0; attempt < 200 && !reachedNew; attempt += 1) {
        reachedNew = (await client.echo({ text: "x" }, { timeoutMs: 5_000 })).text === "c";
        if (!reachedNew) await sleep(10);
      }
      assert.ok(reachedNew, "a newly registered instance receives calls");

      await discovery.push([a().instance, c().instance]);
      const after = await tally(client, 30);
      assert.equal(after.get("b"), undefined, `no calls to a removed instance: ${[...after]}`);
      // Only round_robin promises a spread for one call at a time; p2c_ewma may keep
      // choosing the endpoint with the lower latency average when nothing is in flight.
      if (policy === "round_robin") assert.ok((after.get("a") ?? 0) > 0 && (after.get("c") ?? 0) > 0, `${[...after]}`);
    });
  }

  it("fails calls with UNAVAILABLE naming the service while the set is empty, and recovers", async () => {
    for (const policy of ["round_robin", "p2c_ewma"] as const) {
      const discovery = createFakeDiscovery();
      const client = clientFor(discovery, "consul:///echo", policy);
      void discovery.push([a().instance]);
      assert.equal((await client.echo({ text: "x" }, { timeoutMs: 5_000 })).text, "a");
      await discovery.push([]);
      const error = await rpcFailure(client.echo({ text: "x" }, { timeoutMs: 5_000 }));
      assert.equal(error.code, Code.UNAVAILABLE, policy);
      assert.match(error.message, /no instances of echo/, policy);
      await discovery.push([b().instance]);
      assert.equal((await client.echo({ text: "x" }, { timeoutMs: 5_000 })).text, "b", policy);
    }
  });

  it("fails calls with UNAVAILABLE and the registry's error when the watch fails at start", async () => {
    const client = clientFor(createFakeDiscovery({ failWith: new Error("etcd 127.0.0.1:1 unreachable") }));
    const error = await rpcFailure(client.echo({ text: "x" }, { timeoutMs: 5_000 }));
    assert.equal(error.code, Code.UNAVAILABLE);
    assert.match(error.message, /etcd:\/\/\/echo: discovery of echo failed: etcd 127\.0\.0\.1:1 unreachable/);
  });

  it("watches again, with backoff, after a failed watch", async () => {
    const discovery = createFakeDiscovery({ failWith: new Error("etcd not ready"), failures: 1 });
    const client = createClient(EchoService, "etcd:///echo", {
      channelOptions: { ...discoveryChannelOptions(discovery), "grpc.initial_reconnect_backoff_ms": 200 },
    });
    clients.push(client);
    void discovery.push([a().instance]);
    for (let i = 0; i < 5; i += 1)
      assert.equal((await rpcFailure(client.echo({ text: "x" }, { timeoutMs: 5_000 }))).code, Code.UNAVAILABLE);
    assert.equal(discovery.signals.length, 1, "failing calls do not restart the watch before the backoff ends");
    let answer: string | undefined;
    for (let attempt = 0; attempt < 100 && answer === undefined; attempt += 1) {
      answer = await client.echo({ text: "x" }, { timeoutMs: 5_000 }).then(
        (r) => r.text,
        () => undefined,
      );
      if (answer === undefined) await sleep(20);
    }
    assert.equal(answer, "a");
    assert.equal(discovery.signals.length, 2, "one failed watch, one live watch");
  });

  it("stops the watch when the client closes", async () => {
    const discovery = createFakeDiscovery();
    const client = clientFor(discovery, "trellis-dns:///echo");
    void discovery.push([a().instance]);
    await client.echo({ text: "x" }, { timeoutMs: 5_000 });
    assert.equal(discovery.signals.length, 1);
    closeClient(client);
    assert.equal(discovery.signals[0]?.aborted, true);
  });

  it("resolves static targets inline", async () => {
    const target = `static:///${servers.map((server) => `127.0.0.1:${server.port}`).join(",")}`;
    const client = createClient(EchoService, target, { channelOptions: { "grpc.service_config": serviceConfigFor("round_robin") } });
    clients.push(client);
    const counts = await tally(client, 30);
    assert.deepEqual([...counts.keys()].sort(), ["a", "b", "c"]);
  });

  it("leaves grpc-js' own dns resolver alone", async () => {
    const client = createClient(EchoService, `dns:///127.0.0.1:${a().port}`);
    clients.push(client);
    assert.equal((await client.echo({ text: "x" }, { timeoutMs: 5_000 })).text, "a");
  });

  it("takes DNS names as trellis-dns targets: with a port, SRV names, Consul names", async () => {
    const seen: string[] = [];
    const dns = {
      scheme: "dns",
      watch: (name: string, signal: AbortSignal) => (seen.push(name), createFakeDiscovery().watch(name, signal)),
    };
    for (const name of ["user:50051", "_grpc._tcp.user.default.svc.cluster.local", "user.service.consul", "[::1]:50051"]) {
      const client = createClient(EchoService, `trellis-dns:///${name}`, { channelOptions: discoveryChannelOptions(dns as Discovery) });
      clients.push(client);
      await assert.rejects(client.echo({ text: "x" }, { timeoutMs: 50 })); // no instances: the point is that the target was accepted
    }
    assert.deepEqual(seen, ["user:50051", "_grpc._tcp.user.default.svc.cluster.local", "user.service.consul", "[::1]:50051"]);
    const options = { channelOptions: discoveryChannelOptions(dns as Discovery) };
    assert.throws(() => createClient(EchoService, "trellis-dns:///user:http", options), /"user:http" is not a DNS name/);
    assert.throws(
      () =>
        createClient(EchoService, "consul:///user:50051", {
          channelOptions: discoveryChannelOptions(createFakeDiscovery({ scheme: "consul" })),
        }),
      /"user:50051" is not a service name/,
    );
  });

  it("fails at client creation on a malformed target, a missing or mismatched Discovery, or a mistyped policy", () => {
    assert.throws(() => createClient(EchoService, "static:///127.0.0.1:50051,127.0.0.1:http"), /"127\.0\.0\.1:http" is not host:port/);
    assert.throws(() => createClient(EchoService, "static:///echo"), /needs a Discovery.*or list addresses inline/);
    assert.throws(() => createClient(EchoService, "etcd:///echo"), /etcd:\/\/\/echo needs a Discovery: pass discoveryChannelOptions/);
    assert.throws(
      () => createClient(EchoService, "etcd://10.0.0.1:2379/echo", { channelOptions: discoveryChannelOptions(createFakeDiscovery()) }),
      /authority is not supported/,
    );
    const consul = discoveryChannelOptions(createFakeDiscovery({ scheme: "consul" }));
    assert.throws(() => createClient(EchoService, "etcd:///echo", { channelOptions: consul }), /is a "consul" registry, not "etcd"/);
    const typo = { ...consul, "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robbin: {} }] }) };
    assert.throws(
      () => createClient(EchoService, "consul:///echo", { channelOptions: typo }),
      /Unrecognized load balancing config name round_robbin/,
    );
    assert.throws(
      () => createClient(EchoService, "consul:///echo", { channelOptions: { ...consul, "grpc.lb_policy_name": "round_robin" } }),
      /lb_policy_name is ignored/,
    );
    assert.throws(() => serviceConfigFor("p2c_ewmaa" as never), /unknown load-balancing policy "p2c_ewmaa"/);
  });

  it("keeps the Discovery out of JSON (grpc-js logs options when tracing)", () => {
    const circular: Record<string, unknown> = { watch: () => [] };
    circular.self = circular;
    assert.doesNotThrow(() => JSON.stringify(discoveryChannelOptions(circular as unknown as Discovery)));
  });
});

describe("parseAddressList", () => {
  it("parses host:port lists, IPv6 in brackets", () => {
    assert.deepEqual(parseAddressList("10.0.0.1:50051,[::1]:7000, user.internal:80"), [
      { host: "10.0.0.1", port: 50051 },
      { host: "::1", port: 7000 },
      { host: "user.internal", port: 80 },
    ]);
  });

  it("rejects entries without a valid port", () => {
    for (const bad of ["10.0.0.1", "[::1]", "::1:80", "h:0", "h:70000", "h:80,", "[127.0.0.1]:80"]) {
      assert.throws(() => parseAddressList(bad), /is not host:port/, bad);
    }
  });
});
