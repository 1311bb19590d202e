/**
 * Integration tests of the etcd registry against a real etcd (`npm run test:etcd`):
 * TEST_ETCD_ENDPOINT=127.0.0.1:23790. Not a `.spec` so that `npm test` runs without etcd.
 * Waits are bounded (a hung expectation fails with what was last seen), never asserted.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { Etcd3 } from "etcd3";
import { createEtcdRegistry, type EtcdRegistryOptions } from "./etcd-registry.js";
import type { Registry, ServiceInstance } from "./registry.js";

const endpoint = process.env["TEST_ETCD_ENDPOINT"];
if (!endpoint) {
  throw new Error(
    "TEST_ETCD_ENDPOINT is not set: start etcd and set it, e.g. TEST_ETCD_ENDPOINT=127.0.0.1:23790 (see .ci/lib.sh ci_start_etcd)",
  );
}
const endpoints = [endpoint];
/** A fresh prefix per run so that runs (and leftovers of killed runs) never meet. */
const prefix = `/trellis-test/${randomUUID()}/`;

const instance = (id: string, port: number, metadata: Record<string, string> = {}): ServiceInstance => ({
  id,
  service: "user",
  host: "127.0.0.1",
  port,
  metadata,
});
const ids = (instances: readonly ServiceInstance[]): string[] => instances.map((i) => i.id);

/** Follows `watch(service)`, answering "wait until the set satisfies ..." with a bound. */
function follow(registry: Registry, service: string) {
  const controller = new AbortController();
  const iterator = registry.watch(service, controller.signal)[Symbol.asyncIterator]();
  let latest: readonly ServiceInstance[] | undefined;
  return {
    async until(
      predicate: (instances: readonly ServiceInstance[]) => boolean,
      what: string,
      timeoutMs = 10_000,
    ): Promise<readonly ServiceInstance[]> {
      if (latest && predicate(latest)) return latest;
      const deadline = AbortSignal.timeout(timeoutMs);
      for (;;) {
        const next = iterator.next();
        const timedOut = once(deadline, "abort").then(() => "timeout" as const);
        const result = deadline.aborted ? "timeout" : await Promise.race([next, timedOut]);
        if (result === "timeout")
          assert.fail(`${what}: not seen within ${timeoutMs} ms (last set: ${JSON.stringify(latest && ids(latest))})`);
        if (result.done) assert.fail(`${what}: the watch ended`);
        latest = result.value;
        if (predicate(latest)) return latest;
      }
    },
    stop: () => controller.abort(),
  };
}

const registries: Registry[] = [];
function registry(options: Partial<EtcdRegistryOptions> = {}): Registry {
  const created = createEtcdRegistry({ endpoints, prefix, leaseTtlSeconds: 5, ...options });
  registries.push(created);
  return created;
}

describe("etcd registry", () => {
  let raw: Etcd3;
  before(() => {
    raw = new Etcd3({ hosts: `http://${endpoint}` });
  });
  after(async () => {
    await Promise.all(registries.map((r) => r.close().catch(() => undefined)));
    await raw
      .delete()
      .prefix(prefix)
      .exec()
      .catch(() => undefined);
    raw.close();
  });

  it("a watcher sees registrations and deregistrations", async () => {
    const a = registry();
    const watch = follow(registry(), "user");
    await watch.until((set) => set.length === 0, "the empty initial set");
    await a.register(instance("user-1", 50051, { zone: "a" }));
    await a.register(instance("user-2", 50061));
    const both = await watch.until((set) => set.length === 2, "both instances");
    assert.deepEqual(both, [instance("user-1", 50051, { zone: "a" }), instance("user-2", 50061)]);
    await a.deregister(instance("user-2", 50061));
    await watch.until((set) => ids(set).join() === "user-1", "user-2 gone");
    await a.deregister(instance("user-2", 50061)); // unknown now: not an error
    await a.deregister(instance("user-1", 50051));
    watch.stop();
  });

  it("registering the same id again is idempotent and refreshes it", async () => {
    const a = registry();
    await a.register(instance("dup", 1, { version: "1" }));
    await a.register(instance("dup", 1, { version: "2" }));
    const stored = await raw.getAll().prefix(`${prefix}user/dup`).strings();
    assert.deepEqual(Object.keys(stored), [`${prefix}user/dup`]);
    const watch = follow(registry(), "user");
    const seen = await watch.until((set) => set.some((i) => i.id === "dup"), "dup");
    assert.deepEqual(
      seen.filter((i) => i.id === "dup"),
      [instance("dup", 1, { version: "2" })],
    );
    await a.deregister(instance("dup", 1));
    watch.stop();
  });

  it("close() revokes the lease: instances vanish at once, not after the TTL", async () => {
    const a = registry({ leaseTtlSeconds: 60 });
    await a.register(instance("closing-1", 1));
    await a.register(instance("closing-2", 2));
    const watch = follow(registry(), "user");
    await watch.until((set) => set.filter((i) => i.id.startsWith("closing-")).length === 2, "both closing instances");
    await a.close();
    // Far below the 60 s TTL: only the revoke can explain it.
    await watch.until((set) => !set.some((i) => i.id.startsWith("closing-")), "instances gone after close", 5000);
    watch.stop();
  });

  it("a process that dies without deregistering disappears within about the lease TTL", async () => {
    const moduleUrl = new URL("./etcd-registry.js", import.meta.url).href;
    const script = `
      import { createEtcdRegistry } from ${JSON.stringify(moduleUrl)};
      const registry = createEtcdRegistry({ endpoints: [${JSON.stringify(endpoint)}], prefix: ${JSON.stringify(prefix)}, leaseTtlSeconds: 2 });
      await registry.register({ id: "doomed", service: "user", host: "127.0.0.1", port: 9 });
      process.stdout.write("registered\\n");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const [chunk] = (await Promise.race([once(child.stdout, "data"), once(child, "exit")])) as [unknown];
      assert.match(String(chunk), /registered/, "the child process did not register");
      const watch = follow(registry(), "user");
      await watch.until((set) => set.some((i) => i.id === "doomed"), "the child's instance");
      child.kill("SIGKILL"); // no revoke, no deregister: only the lease expiry can remove it
      await watch.until((set) => !set.some((i) => i.id === "doomed"), "the dead child's instance gone", 10_000);
      watch.stop();
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("re-grants a lost lease and puts the instances again", async () => {
    const warnings: string[] = [];
    const a = registry({ leaseTtlSeconds: 5, backoff: { initialMs: 50 }, onWarning: (message) => warnings.push(message) });
    await a.register(instance("phoenix", 7));
    const watch = follow(registry(), "user");
    await watch.until((set) => set.some((i) => i.id === "phoenix"), "phoenix");
    const response = await raw.get(`${prefix}user/phoenix`).exec();
    const leaseId = response.kvs[0]?.lease;
    assert.ok(leaseId && leaseId !== "0", "the key is not under a lease");
    await raw.leaseClient.leaseRevoke({ ID: leaseId }); // what a wiped etcd or an expired lease looks like
    await watch.until((set) => !set.some((i) => i.id === "phoenix"), "phoenix gone with its lease");
    await watch.until((set) => set.some((i) => i.id === "phoenix"), "phoenix back under a new lease");
    assert.ok(
      warnings.some((w) => w.includes("lease lost")),
      `warnings: ${JSON.stringify(warnings)}`,
    );
    await a.deregister(instance("phoenix", 7));
    watch.stop();
  });

  it("skips malformed values, reporting them through onWarning", async () => {
    const warnings: string[] = [];
    const service = `malformed-${randomUUID()}`;
    await raw.put(`${prefix}${service}/bad-json`).value("{nope");
    await raw.put(`${prefix}${service}/bad-port`).value(JSON.stringify({ id: "x", service, host: "h", port: "80" }));
    await raw.put(`${prefix}${service}/good`).value(JSON.stringify({ id: "good", service, host: "h", port: 80 }));
    const watch = follow(registry({ onWarning: (message) => warnings.push(message) }), service);
    const set = await watch.until((s) => s.length > 0, "the good instance");
    assert.deepEqual(ids(set), ["good"]);
    await raw.put(`${prefix}${service}/later-bad`).value("[]");
    await raw.put(`${prefix}${service}/later-good`).value(JSON.stringify({ id: "later", service, host: "h", port: 81 }));
    await watch.until((s) => ids(s).join() === "good,later", "the later good instance");
    assert.equal(warnings.filter((w) => w.includes("malformed")).length, 3, JSON.stringify(warnings));
    watch.stop();
  });

  it("fails clearly, within the bounded time, when etcd is unreachable", async () => {
    const unreachable = registry({ endpoints: ["127.0.0.1:1"], requestTimeoutMs: 1500 });
    const message = /^etcd at 127\.0\.0\.1:1 is unreachable: /;
    const started = Date.now();
    const iterator = unreachable.watch("user", new AbortController().signal)[Symbol.asyncIterator]();
    await assert.rejects(iterator.next(), (error: Error) => message.test(error.message) && !error.message.includes("\n"));
    await assert.rejects(unreachable.register(instance("nowhere", 1)), (error: Error) => message.test(error.message));
    // A bound, not a timing assertion: "never hangs", with generous slack.
    assert.ok(Date.now() - started < 10_000, "took longer than the bound");
    await unreachable.close();
  });
});
