import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConsulError, createConsulRegistry, parseConsulUrl, type ConsulRegistryOptions } from "./consul-registry.js";
import { startFakeConsul, type FakeConsul } from "../testing/fake-consul-server.js";
import type { Registry, ServiceInstance } from "./registry.js";

const instance = (id: string, port: number, host = "10.0.0.1"): ServiceInstance => ({
  id,
  service: "user",
  host,
  port,
  metadata: { version: "1" },
});
const ids = (instances: readonly ServiceInstance[] | undefined): string[] => (instances ?? []).map((item) => item.id);
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A watch driven step by step, so tests assert on order, never on time. */
function watcher(registry: Registry, service = "user"): { next(): Promise<IteratorResult<readonly ServiceInstance[]>>; abort(): void } {
  const controller = new AbortController();
  const iterator = registry.watch(service, controller.signal)[Symbol.asyncIterator]();
  return { next: () => iterator.next(), abort: () => controller.abort() };
}

/** Tracks whether a promise settled, to assert that a blocking query is still held. */
function track<T>(promise: Promise<T>): { readonly promise: Promise<T>; settled(): boolean } {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { promise, settled: () => settled };
}

const healthRequests = (fake: FakeConsul) => fake.requests().filter((request) => request.path.startsWith("/v1/health/"));

describe("consul registry", () => {
  let fake: FakeConsul;
  const registries: Registry[] = [];
  const open = (options: Partial<ConsulRegistryOptions> = {}): Registry => {
    const registry = createConsulRegistry({ address: fake.address, ttlSeconds: 10, ...options });
    registries.push(registry);
    return registry;
  };
  before(async () => {
    fake = await startFakeConsul();
  });
  after(async () => {
    await Promise.all(registries.map((registry) => registry.close()));
    await fake.close();
  });

  it("register → a watcher sees it, a second instance appears, deregister → gone, close deregisters the rest", async () => {
    const registry = open();
    assert.equal(registry.scheme, "consul");
    const watch = watcher(registry);
    assert.deepEqual((await watch.next()).value, [], "the first answer is yielded even when empty");

    await registry.register(instance("user-a", 5001));
    assert.deepEqual((await watch.next()).value, [
      { id: "user-a", service: "user", host: "10.0.0.1", port: 5001, metadata: { version: "1" } },
    ]);
    const [registered] = fake.services();
    assert.equal(registered?.checkId, "service:user-a");
    assert.equal(registered?.status, "passing", "registered once SERVING, so the gRPC check starts passing");
    assert.deepEqual(registered?.definition, {
      ID: "user-a",
      Name: "user",
      Address: "10.0.0.1",
      Port: 5001,
      Meta: { version: "1" },
      Check: {
        Name: "trellis grpc.health.v1",
        GRPC: "10.0.0.1:5001",
        GRPCUseTLS: false,
        Interval: "5s",
        Status: "passing",
        DeregisterCriticalServiceAfter: "1m",
      },
    });

    await registry.register(instance("user-b", 5002));
    assert.deepEqual(ids((await watch.next()).value), ["user-a", "user-b"]);

    await registry.register(instance("user-a", 5001)); // idempotent: refreshes, no duplicate
    assert.equal(fake.services().length, 2);

    await registry.deregister(instance("user-a", 5001));
    assert.deepEqual(ids((await watch.next()).value), ["user-b"]);
    await registry.deregister(instance("never-registered", 1)); // Consul answers 404: not an error

    watch.abort();
    await registry.close();
    assert.deepEqual(fake.services(), []);
    await assert.rejects(registry.register(instance("user-c", 5003)), /closed/);
  });

  it("falls back to Node.Address when the service registered without an address", async () => {
    const registry = open();
    await registry.register(instance("user-noaddr", 5004, ""));
    const watch = watcher(registry);
    assert.deepEqual(
      (await watch.next()).value?.map((item: ServiceInstance) => item.host),
      ["127.0.0.1"],
    );
    watch.abort();
    await registry.deregister(instance("user-noaddr", 5004, ""));
  });

  it("heartbeats keep a TTL service passing past its TTL, and re-register when the agent forgot it", async () => {
    const errors: Error[] = [];
    const registry = open({ check: "ttl", ttlSeconds: 1, onError: (error) => errors.push(error) });
    await registry.register(instance("user-hb", 5005));
    assert.deepEqual(fake.services().find((service) => service.id === "user-hb")?.definition["Check"], {
      Name: "trellis ttl",
      TTL: "1s",
      DeregisterCriticalServiceAfter: "1m",
    });
    const indexAfterRegister = fake.index();
    const find = () => fake.services().find((service) => service.id === "user-hb");
    // 1 pass at registration + 4 heartbeats (every ttl/3) span more than the 1 s TTL.
    await fake.waitFor(() => (find()?.passes ?? 0) >= 5);
    assert.equal(find()?.status, "passing");
    assert.equal(fake.index(), indexAfterRegister, "the check never flapped to critical");

    // The agent loses the service behind our back (restart without data dir, or reaped after a pause).
    const response = await fetch(`${fake.address}/v1/agent/service/deregister/user-hb`, { method: "PUT" });
    assert.equal(response.status, 200);
    await fake.waitFor(() => find()?.status === "passing");
    assert.ok(
      errors.some(
        (error) => error instanceof ConsulError && error.status === 404 && /Unknown check ID "service:user-hb"/.test(error.message),
      ),
    );
    await registry.deregister(instance("user-hb", 5005));
    assert.equal(find(), undefined);
  });

  it("a crashed process drops out of passing after its TTL and is reaped after DeregisterCriticalServiceAfter", async () => {
    // "Crashed": its heartbeat timer never fires again (the injected sleep never resolves).
    const crashed = open({
      check: "ttl",
      ttlSeconds: 1,
      deregisterCriticalAfter: "1s",
      sleep: (_ms, signal) => new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true })),
    });
    const watch = watcher(open());
    assert.deepEqual((await watch.next()).value, []);
    await crashed.register(instance("user-crash", 5006));
    assert.deepEqual(ids((await watch.next()).value), ["user-crash"]);
    assert.deepEqual((await watch.next()).value, [], "gone from passing once the TTL expired");
    assert.equal(fake.services().find((service) => service.id === "user-crash")?.status, "critical", "still registered, critical");
    await fake.waitFor(() => !fake.services().some((service) => service.id === "user-crash"));
    watch.abort();
  });

  it("a blocking query holds until a change, and same-content returns are not yielded", async () => {
    const registry = open({ blockingWaitSeconds: 0.2 });
    const watch = watcher(registry);
    assert.deepEqual((await watch.next()).value, []);
    const pending = track(watch.next());
    await fake.waitFor(() => fake.parked() === 1);
    const parked = healthRequests(fake).at(-1);
    assert.equal(parked?.query.get("index"), String(fake.index()));
    assert.equal(parked?.query.get("wait"), "0.2s");
    assert.equal(parked?.query.get("passing"), "true");

    // The wait expires several times with the same index: nothing is yielded.
    const before = healthRequests(fake).length;
    await fake.waitFor(() => healthRequests(fake).length >= before + 3);
    // A change elsewhere moves the (global) index without changing this service's instances.
    const other = open();
    await other.register({ id: "billing-1", service: "billing", host: "10.0.0.9", port: 7000 });
    const moved = String(fake.index());
    await fake.waitFor(() => fake.parked() === 1 && healthRequests(fake).at(-1)?.query.get("index") === moved);
    await tick();
    assert.equal(pending.settled(), false, "still held: no change to 'user' yet");

    await registry.register(instance("user-block", 5007));
    assert.deepEqual(ids((await pending.promise).value), ["user-block"]);
    watch.abort();
    await registry.deregister(instance("user-block", 5007));
    await other.deregister({ id: "billing-1", service: "billing", host: "10.0.0.9", port: 7000 });
  });

  it("resets to index 0 when the index goes backwards, and blocks on 1 when Consul answers 0", async () => {
    const registry = open();
    await registry.register(instance("user-r1", 5008));
    const watch = watcher(registry);
    assert.deepEqual(ids((await watch.next()).value), ["user-r1"]);
    const pending = track(watch.next());
    await fake.waitFor(() => fake.parked() === 1);
    const seen = fake.requests().length;

    fake.resetIndex(3); // e.g. a snapshot restore
    await fake.waitFor(() => fake.parked() === 1 && healthRequests(fake).at(-1)?.query.get("index") === "3");
    const afterReset = fake
      .requests()
      .slice(seen)
      .filter((request) => request.path.startsWith("/v1/health/"));
    assert.deepEqual(
      afterReset.map((request) => request.query.get("index")),
      [null, "3"],
      "one non-blocking request from 0, then blocking on the new index",
    );
    assert.equal(pending.settled(), false, "the same instances after a reset are not a change");

    await registry.register(instance("user-r2", 5009));
    assert.deepEqual(ids((await pending.promise).value), ["user-r1", "user-r2"], "changes after the reset are not missed");

    const again = track(watch.next());
    await fake.waitFor(() => fake.parked() === 1);
    fake.resetIndex(0); // Consul bug on old versions: X-Consul-Index 0 must not become a busy loop
    await fake.waitFor(() => fake.parked() === 1 && healthRequests(fake).at(-1)?.query.get("index") === "1");
    assert.equal(again.settled(), false);
    watch.abort();
    assert.equal((await again.promise).done, true);
    await registry.deregister(instance("user-r1", 5008));
    await registry.deregister(instance("user-r2", 5009));
  });

  it("retries transient 5xx with capped, jittered exponential backoff without surfacing them", async () => {
    const errors: Error[] = [];
    const delays: number[] = [];
    const registry = open({
      backoff: { initialMs: 100, maxMs: 200 },
      random: () => 0.5,
      onError: (error) => errors.push(error),
      sleep: async (ms) => {
        delays.push(ms);
        await tick();
      },
    });
    const registrar = open();
    fake.failNext(2, 500, "/v1/health/");
    const watch = watcher(registry);
    assert.deepEqual((await watch.next()).value, [], "failures at start are retried within the start deadline");

    const pending = track(watch.next());
    await fake.waitFor(() => fake.parked() === 1);
    fake.failNext(3, 503, "/v1/health/");
    await registrar.register(instance("user-5xx", 5010));
    assert.deepEqual(ids((await pending.promise).value), ["user-5xx"]);
    const next = watch.next(); // the three requests after this answer fail, then it blocks again
    await fake.waitFor(() => fake.parked() === 1);
    await registrar.deregister(instance("user-5xx", 5010));
    assert.deepEqual((await next).value, []);

    assert.deepEqual(
      errors.map((error) => (error as ConsulError).status),
      [500, 500, 503, 503, 503],
    );
    assert.match(errors[0]?.message ?? "", /answered 500: rpc error making call: No cluster leader/);
    // ceiling = min(200, 100·2^n); delay = ceiling/2 + random·ceiling/2 with random = 0.5; reset after a success
    assert.deepEqual(delays, [75, 150, 75, 150, 150]);
    watch.abort();
  });

  it("abort ends the iterator, cancels the in-flight blocking request, and close() ends watches", async () => {
    const registry = open();
    const watch = watcher(registry);
    await watch.next();
    const pending = watch.next();
    await fake.waitFor(() => fake.parked() === 1);
    watch.abort();
    assert.equal((await pending).done, true);
    await fake.waitFor(() => fake.parked() === 0 && fake.inflight() === 0);

    const closing = open();
    const second = watcher(closing);
    await second.next();
    const held = second.next();
    await fake.waitFor(() => fake.parked() === 1);
    await closing.close();
    assert.equal((await held).done, true);
    await fake.waitFor(() => fake.parked() === 0 && fake.inflight() === 0);

    const already = new AbortController();
    already.abort();
    const iterator = registry.watch("user", already.signal)[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, true);
  });

  it("grpc mode: the agent's probe decides — an instance whose probe fails leaves passing and comes back; no heartbeat", async () => {
    const registry = open({ deregisterCriticalAfter: "2m", grpcCheckInterval: "1s", grpcHealthService: "trellis.user.v1.UserService" });
    const watch = watcher(registry);
    assert.deepEqual((await watch.next()).value, []);
    await registry.register(instance("user-grpc", 5011));
    const [registered] = fake.services().filter((service) => service.id === "user-grpc");
    assert.deepEqual(registered?.definition["Check"], {
      Name: "trellis grpc.health.v1",
      GRPC: "10.0.0.1:5011/trellis.user.v1.UserService",
      GRPCUseTLS: false,
      Interval: "1s",
      Status: "passing",
      DeregisterCriticalServiceAfter: "2m",
    });
    assert.deepEqual(ids((await watch.next()).value), ["user-grpc"]);
    fake.setCheckStatus("service:user-grpc", "critical"); // the probe got NOT_SERVING
    assert.deepEqual((await watch.next()).value, []);
    fake.setCheckStatus("service:user-grpc", "passing");
    assert.deepEqual(ids((await watch.next()).value), ["user-grpc"]);
    assert.ok(!fake.requests().some((request) => request.path.includes("/check/pass/service:user-grpc")), "no heartbeat in grpc mode");
    watch.abort();
    await registry.deregister(instance("user-grpc", 5011));
  });

  it("after the agent restarts without its state: the instance is registered again and watchers resync from index 0", async () => {
    const errors: Error[] = [];
    const registry = open({ backoff: { initialMs: 10, maxMs: 50 }, onError: (error) => errors.push(error) });
    const ttl = open({ check: "ttl", ttlSeconds: 3, backoff: { initialMs: 10, maxMs: 50 } });
    await registry.register(instance("user-phoenix", 5013));
    await ttl.register(instance("user-phoenix-ttl", 5014));
    const watch = watcher(open({ backoff: { initialMs: 10, maxMs: 50 } }));
    assert.deepEqual(ids((await watch.next()).value), ["user-phoenix", "user-phoenix-ttl"]);
    let pending = watch.next();
    await fake.waitFor(() => fake.parked() === 1);
    const seen = fake.requests().length;
    const before = fake.index();

    fake.restart(1); // connections drop, services forgotten, the index starts again below ours
    const back = async (): Promise<readonly ServiceInstance[]> => {
      for (;;) {
        const { value } = await pending;
        if (ids(value).length === 2) return value ?? [];
        pending = watch.next();
      }
    };
    assert.deepEqual(ids(await back()), ["user-phoenix", "user-phoenix-ttl"], "both instances are back and seen");
    const after = healthRequests(fake).filter((request) => fake.requests().indexOf(request) >= seen);
    assert.equal(after[0]?.query.get("index"), null, "the first query after the drop does not block on the old index");
    assert.ok(
      after.every((request) => Number(request.query.get("index") ?? "0") < before),
      "never blocks on the pre-restart index",
    );
    assert.ok(
      errors.some(
        (error) => error instanceof ConsulError && error.status === 404 && /unknown service ID: user-phoenix/.test(error.message),
      ),
    );
    watch.abort();
    await registry.deregister(instance("user-phoenix", 5013));
    await ttl.deregister(instance("user-phoenix-ttl", 5014));
  });
});

describe("consul registry: failures at start", () => {
  it("an unreachable agent fails the watch with a clear error instead of an empty pool", async () => {
    const gone = await startFakeConsul();
    const address = gone.address;
    await gone.close();
    // A virtual clock that only the retry delays move, so a loaded machine cannot turn
    // "connection refused" into "no answer in time".
    let clock = 0;
    const registry = createConsulRegistry({
      address,
      startTimeoutMs: 5000,
      backoff: { initialMs: 1000, maxMs: 2000 },
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    });
    const yielded: unknown[] = [];
    await assert.rejects(
      async () => {
        for await (const instances of registry.watch("user", new AbortController().signal)) yielded.push(instances);
      },
      (error: unknown) =>
        error instanceof ConsulError &&
        new RegExp(`^consul at ${address.replaceAll(".", "\\.")} is unreachable: .*ECONNREFUSED`).test(error.message),
    );
    assert.deepEqual(yielded, []);
    await assert.rejects(registry.register(instance("user-x", 1)), /is unreachable: .*ECONNREFUSED/);
    await registry.close();
  });

  it("an agent that never answers fails the watch once the start deadline passes", async () => {
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true }));
    const registry = createConsulRegistry({ address: "http://127.0.0.1:8500", startTimeoutMs: 100, fetch: hanging });
    await assert.rejects(
      registry.watch("user", new AbortController().signal)[Symbol.asyncIterator]().next(),
      /^ConsulError: consul at http:\/\/127\.0\.0\.1:8500 is unreachable: no answer within \d+ ms$/,
    );
  });

  it("retries an agent that is not ready yet (5xx at start) with backoff, then registers", async () => {
    const fake = await startFakeConsul();
    try {
      const errors: Error[] = [];
      const registry = createConsulRegistry({
        address: fake.address,
        backoff: { initialMs: 10, maxMs: 20 },
        onError: (error) => errors.push(error),
      });
      fake.failNext(2, 500, "/v1/agent/service/register");
      await registry.register(instance("user-late", 5015));
      assert.deepEqual(
        fake.services().map((service) => service.id),
        ["user-late"],
      );
      assert.deepEqual(
        errors.map((error) => (error as ConsulError).status),
        [500, 500],
      );
      await registry.close();
    } finally {
      await fake.close();
    }
  });

  it("ACLs: every refusal is one line naming CONSUL_HTTP_TOKEN — a wrong token, no token (writes denied, reads silently empty), a token without read", async () => {
    const fake = await startFakeConsul({ token: "s3cret", tokensWithoutRead: ["write-only"] });
    try {
      const good = createConsulRegistry({ address: fake.address, token: "s3cret" });
      await good.register(instance("user-acl", 5012));
      const goodWatch = watcher(good);
      assert.deepEqual(ids((await goodWatch.next()).value), ["user-acl"]);
      goodWatch.abort();
      assert.ok(
        fake.requests().every((request) => request.token === "s3cret"),
        "X-Consul-Token on every request",
      );

      const wrong = createConsulRegistry({ address: fake.address, token: "wrong" });
      const oneLine = (pattern: RegExp) => (error: unknown) =>
        error instanceof ConsulError && error.status === 403 && pattern.test(error.message) && !error.message.includes("\n");
      const unknownToken = /answered 403: ACL not found; CONSUL_HTTP_TOKEN holds a token this agent does not know/;
      await assert.rejects(wrong.register(instance("user-w", 1)), oneLine(unknownToken));
      await assert.rejects(watcher(wrong).next(), oneLine(unknownToken));

      const anonymous = createConsulRegistry({ address: fake.address });
      await assert.rejects(
        anonymous.register(instance("user-n", 1)),
        oneLine(/answered 403: Permission denied: anonymous token lacks permission 'service:write'.*; CONSUL_HTTP_TOKEN is not set/),
      );
      // Consul answers the anonymous token 200 [] without saying it filtered anything.
      await assert.rejects(
        watcher(anonymous).next(),
        oneLine(/no instances of "user" to the anonymous token under ACL default policy deny: CONSUL_HTTP_TOKEN is not set/),
      );

      const writeOnly = createConsulRegistry({ address: fake.address, token: "write-only", tokenName: "USER_CONSUL_TOKEN" });
      await assert.rejects(
        watcher(writeOnly).next(),
        oneLine(/filtered every instance of "user" out by ACLs: the token in USER_CONSUL_TOKEN lacks service:read/),
      );

      await good.close();
      assert.deepEqual(fake.services(), []);
    } finally {
      await fake.close();
    }
  });
});

describe("parseConsulUrl", () => {
  it("turns consul://host:port into the agent's HTTP address", () => {
    assert.equal(parseConsulUrl("consul://127.0.0.1:8500"), "http://127.0.0.1:8500");
    assert.equal(parseConsulUrl("consul://consul.internal"), "http://consul.internal:8500");
    assert.equal(parseConsulUrl("consul://[::1]:8600/"), "http://[::1]:8600");
  });

  for (const value of ["http://host:8500", "consul://", "consul:///user", "consul://host:8500/v1?x=1", "consul://u:p@host", "not a url"]) {
    it(`rejects ${JSON.stringify(value)} with one line naming it`, () => {
      assert.throws(
        () => parseConsulUrl(value),
        (error: unknown) => error instanceof Error && error.message.includes(JSON.stringify(value)) && !error.message.includes("\n"),
      );
    });
  }
});
