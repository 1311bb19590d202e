import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createDnsDiscovery, parseDnsServers, type DnsResolver, type Sleep, type SrvRecord } from "./dns-discovery.js";
import type { ServiceInstance } from "./registry.js";

function dnsError(code: string): Error {
  return Object.assign(new Error(`query ${code}`), { code });
}

/** A resolver over mutable tables; `fail` makes every lookup reject with that code. */
function fakeResolver() {
  const state = {
    a: new Map<string, string[]>(),
    aaaa: new Map<string, string[]>(),
    srv: new Map<string, SrvRecord[]>(),
    fail: undefined as string | undefined,
    hang: false,
    lookups: 0,
  };
  const lookup = <T>(table: Map<string, T[]>, name: string): Promise<T[]> => {
    state.lookups++;
    if (state.hang) return new Promise<T[]>(() => {});
    if (state.fail) return Promise.reject(dnsError(state.fail));
    const records = table.get(name);
    return records ? Promise.resolve([...records]) : Promise.reject(dnsError("ENOTFOUND"));
  };
  const resolver: DnsResolver = {
    resolve4: (host) => lookup(state.a, host),
    resolve6: (host) => lookup(state.aaaa, host),
    resolveSrv: (name) => lookup(state.srv, name),
  };
  return { state, resolver };
}

/** A timer the test fires by hand; records the delays asked for. */
function fakeTimer() {
  const pending: Array<() => void> = [];
  const delays: number[] = [];
  let arrived: (() => void) | undefined;
  const sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve) => {
      delays.push(ms);
      if (signal.aborted) return resolve();
      pending.push(resolve);
      signal.addEventListener("abort", () => resolve(), { once: true });
      arrived?.();
    });
  return {
    sleep,
    delays,
    /** Waits until the watcher sleeps, then ends that sleep; returns the delay it asked for. */
    async fire(): Promise<number> {
      await this.asleep();
      pending.shift()?.();
      return delays[delays.length - 1] ?? -1;
    },
    /** Waits until the watcher sleeps (it finished the lookups before). */
    async asleep(): Promise<void> {
      while (pending.length === 0) await new Promise<void>((resolve) => (arrived = resolve));
    },
  };
}

const hosts = (instances: readonly ServiceInstance[] | undefined): string[] => (instances ?? []).map((i) => i.id);

describe("createDnsDiscovery", () => {
  it("resolves an SRV name, then A/AAAA of each target", async () => {
    const { state, resolver } = fakeResolver();
    const name = "_grpc._tcp.user.default.svc.cluster.local";
    state.srv.set(name, [
      { name: "user-0.user.default.svc.cluster.local", port: 50051, priority: 0, weight: 10 },
      { name: "user-1.user.default.svc.cluster.local", port: 50061, priority: 0, weight: 10 },
    ]);
    state.a.set("user-0.user.default.svc.cluster.local", ["10.0.0.1"]);
    state.aaaa.set("user-1.user.default.svc.cluster.local", ["fd00::2"]);
    const discovery = createDnsDiscovery({ resolver, sleep: fakeTimer().sleep });
    const controller = new AbortController();
    const watch = discovery.watch(name, controller.signal)[Symbol.asyncIterator]();
    const { value } = await watch.next();
    assert.deepEqual(hosts(value), ["10.0.0.1:50051", "[fd00::2]:50061"]);
    assert.equal(value?.[0]?.service, name);
    assert.deepEqual(value?.[1]?.metadata, { target: "user-1.user.default.svc.cluster.local", priority: "0", weight: "10" });
    controller.abort();
    assert.equal((await watch.next()).done, true);
    assert.equal(discovery.scheme, "dns");
  });

  it("resolves host[:port] through A and AAAA, with the default port", async () => {
    const { state, resolver } = fakeResolver();
    state.a.set("user.internal", ["10.0.0.1", "10.0.0.2"]);
    state.aaaa.set("user.internal", ["fd00::1"]);
    const discovery = createDnsDiscovery({ resolver, sleep: fakeTimer().sleep, defaultPort: 6000 });
    const controller = new AbortController();
    for await (const instances of discovery.watch("user.internal", controller.signal)) {
      assert.deepEqual(hosts(instances), ["10.0.0.1:6000", "10.0.0.2:6000", "[fd00::1]:6000"]);
      break;
    }
    for await (const instances of discovery.watch("user.internal:7000", controller.signal)) {
      assert.deepEqual(hosts(instances), ["10.0.0.1:7000", "10.0.0.2:7000", "[fd00::1]:7000"]);
      break;
    }
  });

  it("asks SRV first for a name without a port (Consul's user.service.consul), else A/AAAA with the default port", async () => {
    const { state, resolver } = fakeResolver();
    state.srv.set("user.service.consul", [
      { name: "0a000001.addr.dc1.consul", port: 31001, priority: 1, weight: 1 },
      { name: "0a000002.addr.dc1.consul", port: 31002, priority: 1, weight: 1, addresses: ["10.0.0.2"] },
    ]);
    state.a.set("0a000001.addr.dc1.consul", ["10.0.0.1"]);
    state.a.set("plain.internal", ["10.0.0.9"]);
    const discovery = createDnsDiscovery({ resolver, sleep: fakeTimer().sleep });
    const first = async (name: string) => (await discovery.watch(name, new AbortController().signal)[Symbol.asyncIterator]().next()).value;
    const lookupsBefore = state.lookups;
    assert.deepEqual(hosts(await first("user.service.consul")), ["10.0.0.1:31001", "10.0.0.2:31002"]);
    // SRV + A and AAAA of the target without addresses; the other came with its SRV record.
    assert.equal(state.lookups - lookupsBefore, 3);
    assert.deepEqual(hosts(await first("plain.internal")), ["10.0.0.9:50051"], "no SRV records: A with the default port");
    assert.deepEqual(hosts(await first("user.service.consul:7000")), [], "an explicit port means A/AAAA only (and there are none)");
  });

  it("uses IP literals without a lookup", async () => {
    const { state, resolver } = fakeResolver();
    const discovery = createDnsDiscovery({ resolver, sleep: fakeTimer().sleep });
    for await (const instances of discovery.watch("[::1]:50052", new AbortController().signal)) {
      assert.deepEqual(hosts(instances), ["[::1]:50052"]);
      break;
    }
    assert.equal(state.lookups, 0);
  });

  it("re-resolves every refreshIntervalMs and yields only when the set changed (scale-up)", async () => {
    const { state, resolver } = fakeResolver();
    state.a.set("user", ["10.0.0.1"]);
    const timer = fakeTimer();
    const discovery = createDnsDiscovery({ resolver, sleep: timer.sleep });
    const controller = new AbortController();
    const watch = discovery.watch("user", controller.signal)[Symbol.asyncIterator]();
    assert.deepEqual(hosts((await watch.next()).value), ["10.0.0.1:50051"]);
    const next = watch.next();
    assert.equal(await timer.fire(), 5000); // unchanged: no yield
    await timer.asleep();
    const lookupsBefore = state.lookups;
    state.a.set("user", ["10.0.0.1", "10.0.0.2"]);
    assert.equal(await timer.fire(), 5000);
    assert.deepEqual(hosts((await next).value), ["10.0.0.1:50051", "10.0.0.2:50051"]);
    assert.ok(state.lookups > lookupsBefore);
    controller.abort();
  });

  it("yields an empty set for NXDOMAIN / no data, and the instances once they appear", async () => {
    const { state, resolver } = fakeResolver();
    const timer = fakeTimer();
    const discovery = createDnsDiscovery({ resolver, sleep: timer.sleep, refreshIntervalMs: 100 });
    const controller = new AbortController();
    const watch = discovery.watch("_grpc._tcp.chat.default.svc.cluster.local", controller.signal)[Symbol.asyncIterator]();
    assert.deepEqual((await watch.next()).value, []);
    state.srv.set("_grpc._tcp.chat.default.svc.cluster.local", [{ name: "chat-0", port: 50052, priority: 0, weight: 1 }]);
    state.a.set("chat-0", ["10.0.0.9"]);
    const next = watch.next();
    assert.equal(await timer.fire(), 100);
    assert.deepEqual(hosts((await next).value), ["10.0.0.9:50052"]);
    controller.abort();
  });

  it("keeps the last set through transient errors and retries with backoff", async () => {
    const { state, resolver } = fakeResolver();
    state.a.set("user", ["10.0.0.1"]);
    const timer = fakeTimer();
    const discovery = createDnsDiscovery({ resolver, sleep: timer.sleep, random: () => 0, backoff: { initialMs: 1000 } });
    const controller = new AbortController();
    const watch = discovery.watch("user", controller.signal)[Symbol.asyncIterator]();
    assert.deepEqual(hosts((await watch.next()).value), ["10.0.0.1:50051"]);
    const next = watch.next();
    state.fail = "ETIMEOUT";
    assert.equal(await timer.fire(), 5000); // the refresh that fails
    assert.equal(await timer.fire(), 500); // first backoff: half of 1000 with zero jitter
    assert.equal(await timer.fire(), 1000); // doubled
    state.fail = undefined;
    state.a.set("user", ["10.0.0.1", "10.0.0.3"]);
    await timer.fire();
    // Nothing was yielded while DNS failed: the next value is the recovered, changed set.
    assert.deepEqual(hosts((await next).value), ["10.0.0.1:50051", "10.0.0.3:50051"]);
    controller.abort();
  });

  it("throws from the iterator when the first resolution fails hard", async () => {
    const { state, resolver } = fakeResolver();
    state.fail = "ECONNREFUSED";
    const discovery = createDnsDiscovery({ resolver, sleep: fakeTimer().sleep });
    const watch = discovery.watch("user.internal", new AbortController().signal)[Symbol.asyncIterator]();
    await assert.rejects(watch.next(), (error: Error) => {
      assert.match(error.message, /^dns discovery: resolving "user\.internal" failed: query ECONNREFUSED$/);
      return true;
    });
  });

  it("rejects a name that is neither host[:port] nor SRV", async () => {
    const discovery = createDnsDiscovery({ resolver: fakeResolver().resolver, sleep: fakeTimer().sleep });
    const watch = discovery.watch("user:http", new AbortController().signal)[Symbol.asyncIterator]();
    await assert.rejects(watch.next(), /"user:http" is neither host\[:port\] nor an SRV name/);
  });

  it("ends the iterator on abort, while sleeping or while a lookup hangs", async () => {
    const { state, resolver } = fakeResolver();
    state.a.set("user", ["10.0.0.1"]);
    const discovery = createDnsDiscovery({ resolver, sleep: fakeTimer().sleep });
    const sleeping = new AbortController();
    const watch = discovery.watch("user", sleeping.signal)[Symbol.asyncIterator]();
    await watch.next();
    const next = watch.next();
    sleeping.abort();
    assert.deepEqual(await next, { done: true, value: undefined });

    state.hang = true;
    const resolving = new AbortController();
    const hung = discovery.watch("user", resolving.signal)[Symbol.asyncIterator]().next();
    resolving.abort();
    assert.equal((await hung).done, true);
  });

  it("close() ends every watch; register and deregister are no-ops", async () => {
    const { state, resolver } = fakeResolver();
    state.a.set("user", ["10.0.0.1"]);
    const discovery = createDnsDiscovery({ resolver, sleep: fakeTimer().sleep });
    const watch = discovery.watch("user", new AbortController().signal)[Symbol.asyncIterator]();
    await watch.next();
    const next = watch.next();
    const instance = { id: "x", service: "user", host: "10.0.0.5", port: 1 };
    await discovery.register(instance);
    await discovery.deregister(instance);
    await discovery.close();
    assert.equal((await next).done, true);
  });
});

describe("parseDnsServers", () => {
  it("accepts IPs with or without a port, IPv6 in brackets", () => {
    assert.deepEqual(parseDnsServers("127.0.0.1:8600, 10.0.0.2,[::1]:8600"), ["127.0.0.1:8600", "10.0.0.2:53", "[::1]:8600"]);
  });
  for (const bad of ["consul.local:8600", "127.0.0.1:dns", "127.0.0.1:70000", "", "1.2.3.4,"]) {
    it(`rejects ${JSON.stringify(bad)} with one line naming the entry`, () => {
      assert.throws(
        () => parseDnsServers(bad),
        (error: Error) => /^DNS server ".*" is not an IP address/.test(error.message) && !error.message.includes("\n"),
      );
    });
  }
});
