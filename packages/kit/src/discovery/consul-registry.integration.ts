/**
 * The Consul adapter against a real Consul agent (`npm run test:consul`; .ci/run starts one):
 * TEST_CONSUL_HTTP_ADDR=http://127.0.0.1:28500, TEST_CONSUL_DNS_ADDR=127.0.0.1:28501, and
 * TEST_CONSUL_BIN for the two agents this suite starts itself (one it kills and restarts
 * on 28510-28516, one with ACLs on 28520-28526). Not a `.spec` so that `npm test` runs
 * without Consul. Waits are bounded polls of what a user would see (the watched set, who
 * answers calls), never sleeps, and no duration is asserted.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { createClient, type Client, closeClient } from "../client/create-client.js";
import { readDiscoveryConfig, registryOptionsFrom } from "../config/discovery-config.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";
import { ConsulError, createConsulRegistry, type ConsulRegistryOptions } from "./consul-registry.js";
import { startConsulTestAgent, type ConsulTestAgent } from "../testing/consul-test-agent.js";
import { createRegistryFromUrl } from "./create-registry.js";
import type { Discovery, Registry, ServiceInstance } from "./registry.js";

const httpAddress = process.env["TEST_CONSUL_HTTP_ADDR"];
const dnsAddress = process.env["TEST_CONSUL_DNS_ADDR"];
const consulBin = process.env["TEST_CONSUL_BIN"];
if (!httpAddress || !dnsAddress || !consulBin) {
  throw new Error(
    "TEST_CONSUL_HTTP_ADDR, TEST_CONSUL_DNS_ADDR and TEST_CONSUL_BIN must be set: start an agent, e.g. with .ci/lib.sh's ci_start_consul (see `npm run test:consul` in .ci/run)",
  );
}
const agent = httpAddress;
/** Service names unique to each test, so tests and re-runs against the same agent never meet. */
const serviceName = (what: string): string => `${what}-${randomUUID().slice(0, 13)}`;
/** Consul's minimum; the default (5s) works the same, only slower. */
const FAST_CHECKS = { grpcCheckInterval: "1s" } as const;

const ids = (instances: readonly ServiceInstance[] | undefined): string[] => (instances ?? []).map((i) => i.id);

/** Polls `probe` until it returns a value satisfying `done`, or fails naming `what` and the last value. */
async function until<T>(what: string, probe: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (done(last)) return last;
    if (Date.now() > deadline) assert.fail(`${what}: not seen within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    await delay(50);
  }
}

/**
 * Follows `watch(service)` the way the grpc-js resolver does — always pulling the next set —
 * and answers "wait until the set satisfies …" with a bound.
 */
function follow(discovery: Discovery, service: string) {
  const controller = new AbortController();
  let latest: readonly ServiceInstance[] | undefined;
  let ended: string | undefined;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  void (async () => {
    try {
      for await (const set of discovery.watch(service, controller.signal)) {
        latest = set;
        wake();
      }
      ended = "the watch ended";
    } catch (error) {
      ended = `the watch failed: ${(error as Error).message}`;
    }
    wake();
  })();
  return {
    async until(
      what: string,
      predicate: (instances: readonly ServiceInstance[]) => boolean,
      timeoutMs = 20_000,
    ): Promise<readonly ServiceInstance[]> {
      const deadline = AbortSignal.timeout(timeoutMs);
      for (;;) {
        if (latest !== undefined && predicate(latest)) return latest;
        if (ended !== undefined && !controller.signal.aborted) assert.fail(`${what}: ${ended}`);
        if (deadline.aborted) assert.fail(`${what}: not seen within ${timeoutMs} ms (last set: ${JSON.stringify(latest && ids(latest))})`);
        await new Promise<void>((resolve) => {
          const done = (): void => {
            waiters.delete(done);
            deadline.removeEventListener("abort", done);
            resolve();
          };
          waiters.add(done);
          deadline.addEventListener("abort", done);
        });
      }
    },
    stop: () => controller.abort(),
  };
}

/** An Echo server that answers with its own name, so a test sees who served each call. */
interface Named {
  readonly name: string;
  readonly server: TestServer;
  readonly instance: ServiceInstance;
}

async function consulGet(path: string, address = agent, token?: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${address}${path}`, { headers: token === undefined ? {} : { "X-Consul-Token": token } });
  const text = await response.text();
  return { status: response.status, body: response.ok && text !== "" ? (JSON.parse(text) as unknown) : text };
}

describe("consul registry against a real agent", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const registry = (options: Partial<ConsulRegistryOptions> = {}): Registry => {
    const created = createConsulRegistry({ address: agent, ...FAST_CHECKS, ...options });
    cleanups.push(() => created.close());
    return created;
  };
  const named = async (name: string, service: string): Promise<Named> => {
    const server = await startTestServer((s) => s.addService(EchoService, { ...createEchoHandlers(), echo: async () => ({ text: name }) }));
    cleanups.push(() => server.close());
    const port = Number(server.address.split(":")[1]);
    return { name, server, instance: { id: `${service}-${name}`, service, host: "127.0.0.1", port, metadata: { name } } };
  };
  const client = (target: string, discovery: Discovery): Client<typeof EchoService> => {
    const created = createClient(EchoService, target, { discovery, loadBalancing: "round_robin" });
    cleanups.push(() => closeClient(created));
    return created;
  };
  /** Who answers the next `calls` calls. */
  const answers = async (echo: Client<typeof EchoService>, calls = 12): Promise<string[]> => {
    const seen = new Set<string>();
    for (let i = 0; i < calls; i += 1) seen.add((await echo.echo({ text: "who" }, { timeoutMs: 5_000 })).text);
    return [...seen].sort();
  };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  });

  it("registers with a gRPC check the agent runs itself; watchers see the instance; re-registering is idempotent; deregistering removes it", async () => {
    const service = serviceName("echo");
    const a = await named("a", service);
    const registrar = registry();
    const watch = follow(registry(), service);
    await watch.until("the empty initial set", (set) => set.length === 0);
    await registrar.register(a.instance);
    const [seen] = await watch.until("the instance", (set) => set.length === 1);
    assert.deepEqual(seen, a.instance);
    // The agent itself called grpc.health.v1 on the instance: its check says so.
    const check = await until(
      "a gRPC probe by the agent",
      async () =>
        ((await consulGet("/v1/agent/checks")).body as Record<string, { Type: string; Status: string; Output: string }>)[
          `service:${a.instance.id}`
        ],
      (value) => value?.Output.startsWith("gRPC check") === true,
    );
    assert.equal(check?.Type, "grpc");
    assert.equal(check?.Status, "passing");
    assert.match(check?.Output ?? "", new RegExp(`^gRPC check 127\\.0\\.0\\.1:${a.instance.port}: success`));

    await registrar.register(a.instance);
    const listed = (await consulGet(`/v1/agent/services?filter=${encodeURIComponent(`Service == "${service}"`)}`)).body as Record<
      string,
      unknown
    >;
    assert.deepEqual(Object.keys(listed), [a.instance.id], "one registration, not two");

    await registrar.deregister(a.instance);
    await watch.until("the instance gone", (set) => set.length === 0);
    await registrar.deregister(a.instance); // Consul answers 404 now: not an error
    watch.stop();
  });

  it("an instance whose health goes NOT_SERVING leaves ?passing and every client's channel, and returns when SERVING", async () => {
    const service = serviceName("echo");
    const [a, b] = [await named("a", service), await named("b", service)];
    const registrar = registry();
    await registrar.register(a.instance);
    await registrar.register(b.instance);
    // Two clients, each with its own registry: two processes' worth of channels.
    const clients = [client(`consul:///${service}`, registry()), client(`consul:///${service}`, registry())];
    for (const echo of clients)
      await until(
        "both instances answering",
        () => answers(echo),
        (who) => who.join() === "a,b",
      );
    const watch = follow(registry(), service);

    a.server.server.health.set("", "NOT_SERVING");
    await watch.until("a out of ?passing", (set) => ids(set).join() === b.instance.id);
    for (const echo of clients)
      await until(
        "only b answering",
        () => answers(echo, 20),
        (who) => who.join() === "b",
      );

    a.server.server.health.set("", "SERVING");
    await watch.until("a back in ?passing", (set) => set.length === 2);
    for (const echo of clients)
      await until(
        "a answering again",
        () => answers(echo),
        (who) => who.join() === "a,b",
      );
    watch.stop();
  });

  it("a service flapping between passing and critical: watchers follow every flip, calls never fail", async () => {
    const service = serviceName("echo");
    const [a, b] = [await named("a", service), await named("b", service)];
    const registrar = registry();
    await registrar.register(a.instance);
    await registrar.register(b.instance);
    const echo = client(`consul:///${service}`, registry());
    await until(
      "both instances answering",
      () => answers(echo),
      (who) => who.join() === "a,b",
    );
    let calls = 0;
    const failures: string[] = [];
    let loading = true;
    const load = (async () => {
      while (loading) {
        try {
          await echo.echo({ text: "x" }, { timeoutMs: 5_000 });
          calls += 1;
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    })();
    const watch = follow(registry(), service);
    for (let flip = 0; flip < 3; flip += 1) {
      a.server.server.health.set("", "NOT_SERVING");
      await watch.until(`flip ${flip}: a critical`, (set) => set.length === 1);
      a.server.server.health.set("", "SERVING");
      await watch.until(`flip ${flip}: a passing`, (set) => set.length === 2);
    }
    loading = false;
    await load;
    watch.stop();
    assert.deepEqual(failures, []);
    assert.ok(calls > 0);
  });

  it("TTL fallback: heartbeats keep an instance passing; a process killed with SIGKILL leaves ?passing once its TTL lapses", async () => {
    const service = serviceName("ttl");
    const moduleUrl = new URL("./consul-registry.js", import.meta.url).href;
    const script = `
      import { createConsulRegistry } from ${JSON.stringify(moduleUrl)};
      const registry = createConsulRegistry({ address: ${JSON.stringify(agent)}, check: "ttl", ttlSeconds: 2 });
      await registry.register({ id: "doomed", service: ${JSON.stringify(service)}, host: "127.0.0.1", port: 9 });
      process.stdout.write("registered\\n");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    cleanups.push(async () => {
      child.kill("SIGKILL");
      await registry().deregister({ id: "doomed", service, host: "127.0.0.1", port: 9 });
    });
    const [chunk] = (await Promise.race([once(child.stdout, "data"), once(child, "exit")])) as [unknown];
    assert.match(String(chunk), /registered/, "the child process did not register");
    const registeredAt = Date.now();
    const watch = follow(registry(), service);
    await watch.until("the child's instance", (set) => ids(set).join() === "doomed");
    // Watched over two TTLs, the check never lapses: the heartbeats reach the agent.
    const statuses = new Set<string>();
    await until(
      "two TTLs of heartbeats",
      async () => {
        const [check] = (await consulGet(`/v1/health/checks/${service}`)).body as { Status: string }[];
        statuses.add(check?.Status ?? "missing");
        return Date.now() - registeredAt;
      },
      (elapsed) => elapsed > 4_000,
    );
    assert.deepEqual([...statuses], ["passing"]);
    child.kill("SIGKILL"); // no deregistration: only the TTL can take it out
    await watch.until("the dead child gone from passing", (set) => set.length === 0);
    watch.stop();
  });

  it("agent down at start: register and watch fail with one line naming the agent, never an empty set", async () => {
    const nowhere = createConsulRegistry({
      address: "http://127.0.0.1:28519",
      startTimeoutMs: 1_000,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    const yielded: unknown[] = [];
    const oneLine = (error: unknown): boolean =>
      error instanceof ConsulError &&
      /^consul at http:\/\/127\.0\.0\.1:28519 is unreachable: .*ECONNREFUSED/.test(error.message) &&
      !error.message.includes("\n");
    await assert.rejects(async () => {
      for await (const set of nowhere.watch("user", new AbortController().signal)) yielded.push(set);
    }, oneLine);
    assert.deepEqual(yielded, []);
    await assert.rejects(nowhere.register({ id: "x", service: "user", host: "127.0.0.1", port: 1 }), oneLine);
    await nowhere.close();
  });
});

describe("consul registry across an agent restart", () => {
  let restartable: ConsulTestAgent;
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    restartable = await startConsulTestAgent({ bin: consulBin, basePort: 28510 });
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    await restartable.stop();
  });

  it("agent killed and started again without its state: registrations are restored, watchers and channels resume", async () => {
    const service = serviceName("echo");
    const open = (options: Partial<ConsulRegistryOptions> = {}): Registry => {
      const created = createConsulRegistry({ address: restartable.httpAddress, ...FAST_CHECKS, ...options });
      cleanups.push(() => created.close());
      return created;
    };
    const servers = await Promise.all(
      ["grpc", "ttl"].map(async (name) => {
        const server = await startTestServer((s) =>
          s.addService(EchoService, { ...createEchoHandlers(), echo: async () => ({ text: name }) }),
        );
        cleanups.push(() => server.close());
        return { name, port: Number(server.address.split(":")[1]) };
      }),
    );
    const instances = servers.map(({ name, port }) => ({ id: `${service}-${name}`, service, host: "127.0.0.1", port }));
    await open().register(instances[0]!);
    await open({ check: "ttl", ttlSeconds: 3 }).register(instances[1]!);
    const discovery = open();
    const watch = follow(discovery, service);
    await watch.until("both instances", (set) => set.length === 2);
    const echo = createClient(EchoService, `consul:///${service}`, { discovery, loadBalancing: "round_robin" });
    cleanups.push(() => closeClient(echo));
    const who = async (): Promise<string> =>
      [...new Set(await Promise.all([1, 2, 3, 4].map(async () => (await echo.echo({ text: "x" }, { timeoutMs: 5_000 })).text)))]
        .sort()
        .join();
    await until("both answering", who, (names) => names === "grpc,ttl");

    // Move the service's index well past where a fresh agent starts counting, as any
    // long-lived agent's would be: a watcher that kept blocking on it after the restart
    // would hang until its wait (30 s) expired.
    const extra = { id: `${service}-churn`, service, host: "127.0.0.1", port: 9 };
    const churn = open({ check: "ttl" });
    for (let i = 0; i < 20; i += 1) {
      await churn.register({ ...extra, metadata: { round: String(i) } });
      await churn.deregister(extra);
    }
    const indexOf = async (): Promise<number> =>
      Number((await fetch(`${restartable.httpAddress}/v1/health/service/${service}`)).headers.get("X-Consul-Index"));
    const before = await indexOf();

    await restartable.kill();
    await restartable.start();
    for (const instance of instances) {
      await until(
        `${instance.id} registered again`,
        async () => (await consulGet(`/v1/agent/service/${instance.id}`, restartable.httpAddress)).status,
        (status) => status === 200,
      );
    }
    // A registration made after the restart: only a watcher that resumed on the new agent's
    // index can see it.
    const late = { id: `${service}-late`, service, host: "127.0.0.1", port: instances[0]!.port };
    await open().register(late);
    await watch.until("the watcher sees the instances restored and the one added after the restart", (set) => set.length === 3);
    assert.ok((await indexOf()) < before, "the restarted agent counts from a lower index (what this test is about)");
    await until(
      "both answering after the restart",
      () => who().catch((error: Error) => error.message),
      (names) => names === "grpc,ttl",
    );
    watch.stop();
  });
});

describe("consul registry with ACLs (default deny)", () => {
  const management = randomUUID();
  let secured: ConsulTestAgent;
  let readOnly: string;
  let writeOnly: string;
  const registries: Registry[] = [];
  const withToken = async (token: string | undefined): Promise<Registry> => {
    // Through the environment, as a service reads it.
    const config = readDiscoveryConfig({
      TRELLIS_REGISTRY: `consul://${secured.httpAddress.slice("http://".length)}`,
      ...(token === undefined ? {} : { CONSUL_HTTP_TOKEN: token }),
    });
    const created = await createRegistryFromUrl(config.registryUrl, {
      ...registryOptionsFrom(config),
      consul: { ...FAST_CHECKS, startTimeoutMs: 2_000 },
    });
    registries.push(created);
    return created;
  };
  const createToken = async (name: string, rules: string): Promise<string> => {
    const put = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const response = await fetch(`${secured.httpAddress}${path}`, {
        method: "PUT",
        headers: { "X-Consul-Token": management },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 200, await response.clone().text());
      return (await response.json()) as Record<string, unknown>;
    };
    await put("/v1/acl/policy", { Name: name, Rules: rules });
    return String((await put("/v1/acl/token", { Policies: [{ Name: name }] }))["SecretID"]);
  };
  before(async () => {
    secured = await startConsulTestAgent({
      bin: consulBin,
      basePort: 28520,
      hcl: `acl { enabled = true\n default_policy = "deny"\n tokens { initial_management = "${management}" } }`,
    });
    readOnly = await createToken("read-only", `service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }`);
    writeOnly = await createToken("write-no-node-read", `service_prefix "" { policy = "write" }`);
  });
  after(async () => {
    await Promise.all(registries.map((created) => created.close().catch(() => undefined)));
    await secured?.stop();
  });

  const oneLine = (pattern: RegExp) => (error: unknown) =>
    error instanceof Error && pattern.test(error.message) && !error.message.includes("\n");
  const someone = (service: string): ServiceInstance => ({ id: `${service}-1`, service, host: "127.0.0.1", port: 9 });

  it("a valid token registers and reads; a missing, unknown or too weak one fails with one line naming CONSUL_HTTP_TOKEN", async () => {
    const service = serviceName("acl");
    const server = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()));
    const good = await withToken(management);
    const instance = { ...someone(service), port: Number(server.address.split(":")[1]) };
    try {
      await good.register(instance);
      const goodWatch = follow(good, service);
      await goodWatch.until("the instance, read with a valid token", (set) => ids(set).join() === instance.id);
      goodWatch.stop();
    } finally {
      await good.deregister(instance);
      await server.close();
    }

    const missing = await withToken(undefined);
    await assert.rejects(
      missing.register(someone(service)),
      oneLine(
        /answered 403: Permission denied: anonymous token lacks permission 'service:write' on ".*"\..*; CONSUL_HTTP_TOKEN is not set, so Consul used its anonymous token/,
      ),
    );
    await assert.rejects(
      missing.watch(service, new AbortController().signal)[Symbol.asyncIterator]().next(),
      oneLine(/no instances of ".*" to the anonymous token under ACL default policy deny: CONSUL_HTTP_TOKEN is not set/),
    );

    const unknown = await withToken(randomUUID());
    const notFound = /answered 403: ACL not found; CONSUL_HTTP_TOKEN holds a token this agent does not know/;
    await assert.rejects(unknown.register(someone(service)), oneLine(notFound));
    await assert.rejects(unknown.watch(service, new AbortController().signal)[Symbol.asyncIterator]().next(), oneLine(notFound));

    const reader = await withToken(readOnly);
    await assert.rejects(
      reader.register(someone(service)),
      oneLine(
        /answered 403: Permission denied: token with AccessorID '[0-9a-f-]+' lacks permission 'service:write' on ".*"; the token in CONSUL_HTTP_TOKEN lacks that permission/,
      ),
    );
    const writer = await withToken(writeOnly);
    await writer.register({ ...someone(service), id: `${service}-2`, port: 2 });
    await writer.deregister({ ...someone(service), id: `${service}-2`, port: 2 });
    await assert.rejects(
      writer.watch(service, new AbortController().signal)[Symbol.asyncIterator]().next(),
      oneLine(/filtered every instance of ".*" out by ACLs: the token in CONSUL_HTTP_TOKEN lacks service:read on ".*" or node:read/),
    );
  });
});

describe("Consul's DNS interface as a discovery path", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  });

  it("trellis-dns:///<name>.service.consul on TRELLIS_DNS_SERVERS: SRV gives every passing instance with its port; a channel follows it", async () => {
    const service = serviceName("dns");
    const registrar = createConsulRegistry({ address: agent, ...FAST_CHECKS });
    cleanups.push(() => registrar.close());
    const names = ["a", "b", "c", "d", "e"]; // more than Consul's 3-answer limit for plain 512-byte UDP answers
    const servers: TestServer[] = [];
    for (const name of names) {
      const server = await startTestServer((s) =>
        s.addService(EchoService, { ...createEchoHandlers(), echo: async () => ({ text: name }) }),
      );
      cleanups.push(() => server.close());
      servers.push(server);
      await registrar.register({ id: `${service}-${name}`, service, host: "127.0.0.1", port: Number(server.address.split(":")[1]) });
    }
    const config = readDiscoveryConfig({ TRELLIS_REGISTRY: "dns", TRELLIS_DNS_SERVERS: dnsAddress });
    const dns = await createRegistryFromUrl(config.registryUrl, {
      ...registryOptionsFrom(config),
      dns: { servers: config.dnsServers ?? [], refreshIntervalMs: 500 },
    });
    cleanups.push(() => dns.close());
    const target = `${service}.service.consul`;
    const watch = follow(dns, target);
    const found = await watch.until("every instance through SRV", (set) => set.length === names.length);
    assert.deepEqual(
      found.map((instance) => instance.port).sort(),
      servers.map((server) => Number(server.address.split(":")[1])).sort(),
      "the ports come from the SRV records",
    );
    assert.ok(found.every((instance) => instance.host === "127.0.0.1"));

    const echo = createClient(EchoService, `trellis-dns:///${target}`, { discovery: dns, loadBalancing: "round_robin" });
    cleanups.push(() => closeClient(echo));
    const who = async (): Promise<string> => {
      const seen = new Set<string>();
      for (let i = 0; i < 30; i += 1) seen.add((await echo.echo({ text: "x" }, { timeoutMs: 5_000 })).text);
      return [...seen].sort().join();
    };
    await until("every instance answering", who, (all) => all === names.join());

    servers[0]!.server.health.set("", "NOT_SERVING"); // Consul DNS answers only instances that are not critical
    await watch.until("a gone from DNS", (set) => set.length === names.length - 1);
    await until("a no longer called", who, (all) => all === names.slice(1).join());
    watch.stop();
  });
});
