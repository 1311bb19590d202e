import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRegistryFromUrl, parseRegistryUrl } from "./create-registry.js";
import { parseEtcdUrl } from "./etcd-registry.js";

const MESSAGE = /^TRELLIS_REGISTRY must be static, dns, etcd:\/\/host:port or consul:\/\/host:port \(got ".*"\)$/;

describe("parseRegistryUrl", () => {
  it("accepts the four kinds", () => {
    assert.deepEqual(parseRegistryUrl("static"), { kind: "static" });
    assert.deepEqual(parseRegistryUrl(" dns "), { kind: "dns" });
    assert.deepEqual(parseRegistryUrl("etcd://127.0.0.1:2379"), { kind: "etcd", endpoints: ["127.0.0.1:2379"] });
    assert.deepEqual(parseRegistryUrl("etcd://etcd-0:2379,etcd-1"), { kind: "etcd", endpoints: ["etcd-0:2379", "etcd-1:2379"] });
    assert.deepEqual(parseRegistryUrl("etcd://[::1]:23790/"), { kind: "etcd", endpoints: ["[::1]:23790"] });
    assert.deepEqual(parseRegistryUrl("consul://consul:8500"), { kind: "consul", address: "http://consul:8500" });
    assert.deepEqual(parseRegistryUrl("consul://localhost"), { kind: "consul", address: "http://localhost:8500" });
  });

  for (const bad of [
    "",
    "Static",
    "zookeeper://zk:2181",
    "etcd://",
    "etcd://host:port",
    "etcd://h:1,",
    "etcd:host:2379",
    "consul://a:1,b:2",
    "consul://c:8500/v1",
    "http://etcd:2379",
  ]) {
    it(`rejects ${JSON.stringify(bad)} with one line naming the variable`, () => {
      assert.throws(
        () => parseRegistryUrl(bad),
        (error: Error) => MESSAGE.test(error.message) && error.message.includes(`"${bad}"`),
      );
    });
  }
});

describe("parseEtcdUrl", () => {
  it("parses endpoints, defaulting the port", () => {
    assert.deepEqual(parseEtcdUrl("etcd://127.0.0.1:2379,etcd-1"), ["127.0.0.1:2379", "etcd-1:2379"]);
  });
  it("names the bad endpoint", () => {
    assert.throws(() => parseEtcdUrl("etcd://a:1,b:x"), /^Error: etcd URL "etcd:\/\/a:1,b:x" has a bad endpoint "b:x"/);
    assert.throws(() => parseEtcdUrl("consul://a:1"), /^Error: etcd URL must look like etcd:\/\/host:port/);
  });
});

describe("createRegistryFromUrl", () => {
  it("builds a static registry from TRELLIS_STATIC_SERVICES", async () => {
    const registry = await createRegistryFromUrl("static", { env: { TRELLIS_STATIC_SERVICES: "user=127.0.0.1:50051" } });
    assert.equal(registry.scheme, "static");
    for await (const instances of registry.watch("user", new AbortController().signal)) {
      assert.deepEqual(
        instances.map((i) => i.id),
        ["127.0.0.1:50051"],
      );
      break;
    }
    await registry.close();
  });

  it("reports a bad TRELLIS_STATIC_SERVICES", async () => {
    await assert.rejects(
      createRegistryFromUrl("static", { env: { TRELLIS_STATIC_SERVICES: "user" } }),
      /^Error: TRELLIS_STATIC_SERVICES entry "user"/,
    );
  });

  it("builds dns and etcd registries (etcd without connecting)", async () => {
    const dns = await createRegistryFromUrl("dns");
    assert.equal(dns.scheme, "dns");
    await dns.close();
    const etcd = await createRegistryFromUrl("etcd://127.0.0.1:1");
    assert.equal(etcd.scheme, "etcd");
    await etcd.close();
  });

  it("rejects a malformed value before importing anything", async () => {
    await assert.rejects(createRegistryFromUrl("etcd:/x"), (error: Error) => MESSAGE.test(error.message));
  });
});
