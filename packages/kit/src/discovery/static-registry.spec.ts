import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createStaticRegistry, parseHostPort, parseStaticConfig } from "./static-registry.js";
import type { ServiceInstance } from "./registry.js";

const ids = (instances: readonly ServiceInstance[] | undefined): string[] => (instances ?? []).map((i) => i.id);

describe("parseHostPort", () => {
  it("parses names, IPv4 and bracketed IPv6", () => {
    assert.deepEqual(parseHostPort("user.default.svc:50051"), { host: "user.default.svc", port: 50051 });
    assert.deepEqual(parseHostPort("10.0.0.1:1"), { host: "10.0.0.1", port: 1 });
    assert.deepEqual(parseHostPort("[::1]:50051"), { host: "::1", port: 50051 });
    assert.deepEqual(parseHostPort("[fd00::1]", 7), { host: "fd00::1", port: 7 });
    assert.deepEqual(parseHostPort("fd00::1", 7), { host: "fd00::1", port: 7 });
    assert.deepEqual(parseHostPort("user", 50051), { host: "user", port: 50051 });
  });
  for (const bad of [
    "",
    "user",
    ":50051",
    "user:",
    "user:0",
    "user:65536",
    "user:5x",
    "[::1",
    "[nope]:1",
    "a b:1",
    "::1:50051x",
    "[::1]50051",
  ]) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(parseHostPort(bad), undefined));
  }
});

describe("parseStaticConfig", () => {
  it("parses services and their addresses", () => {
    assert.deepEqual(parseStaticConfig("user=127.0.0.1:50051, 127.0.0.1:50061 ; chat=127.0.0.1:50052;"), {
      user: ["127.0.0.1:50051", "127.0.0.1:50061"],
      chat: ["127.0.0.1:50052"],
    });
    assert.deepEqual(parseStaticConfig(""), {});
  });
  for (const [text, entry] of [
    ["user", "user"],
    ["user=127.0.0.1:50051;chat=", "chat="],
    ["=127.0.0.1:1", "=127.0.0.1:1"],
    ["user=127.0.0.1:50051,nope", "user=127.0.0.1:50051,nope"],
  ] as const) {
    it(`names the bad entry in ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseStaticConfig(text),
        (error: Error) => error.message.startsWith(`TRELLIS_STATIC_SERVICES entry "${entry}"`) && !error.message.includes("\n"),
      );
    });
  }
});

describe("createStaticRegistry", () => {
  it("yields the configured set, then waits until aborted", async () => {
    const registry = createStaticRegistry({ user: ["127.0.0.1:50061", "127.0.0.1:50051"] });
    assert.equal(registry.scheme, "static");
    const controller = new AbortController();
    const watch = registry.watch("user", controller.signal)[Symbol.asyncIterator]();
    assert.deepEqual(ids((await watch.next()).value), ["127.0.0.1:50051", "127.0.0.1:50061"]);
    const next = watch.next();
    controller.abort();
    assert.equal((await next).done, true);
  });

  it("yields an empty set for an unknown service", async () => {
    const registry = createStaticRegistry({});
    for await (const instances of registry.watch("chat", new AbortController().signal)) {
      assert.deepEqual(instances, []);
      break;
    }
  });

  it("makes in-process registrations discoverable, idempotently", async () => {
    const registry = createStaticRegistry({ user: ["127.0.0.1:50051"] });
    const controller = new AbortController();
    const watch = registry.watch("user", controller.signal)[Symbol.asyncIterator]();
    await watch.next();
    const local = { id: "user-local", service: "user", host: "127.0.0.1", port: 6000 };
    await registry.register(local);
    assert.deepEqual(ids((await watch.next()).value), ["127.0.0.1:50051", "user-local"]);
    await registry.register(local); // same instance again: no new value
    await registry.register({ id: "chat-1", service: "chat", host: "127.0.0.1", port: 6001 }); // another service
    await registry.deregister(local);
    assert.deepEqual(ids((await watch.next()).value), ["127.0.0.1:50051"]);
    await registry.deregister(local); // unknown id: not an error
    controller.abort();
  });

  it("close() forgets registrations and ends watches", async () => {
    const registry = createStaticRegistry({});
    await registry.register({ id: "a", service: "user", host: "127.0.0.1", port: 1 });
    const watch = registry.watch("user", new AbortController().signal)[Symbol.asyncIterator]();
    assert.deepEqual(ids((await watch.next()).value), ["a"]);
    const next = watch.next();
    await registry.close();
    assert.equal((await next).done, true);
  });

  it("keeps registries apart", async () => {
    const a = createStaticRegistry({});
    const b = createStaticRegistry({});
    await a.register({ id: "a", service: "user", host: "127.0.0.1", port: 1 });
    for await (const instances of b.watch("user", new AbortController().signal)) {
      assert.deepEqual(instances, []);
      break;
    }
  });

  it("rejects a malformed configured address", () => {
    assert.throws(
      () => createStaticRegistry({ user: ["localhost"] }),
      /^Error: static registry: service "user" has a bad address "localhost"/,
    );
  });
});
