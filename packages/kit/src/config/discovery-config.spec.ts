import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createStaticRegistry } from "../discovery/static-registry.js";
import { ConfigError } from "./env.js";
import { discoveryFor, readDiscoveryConfig, registryOptionsFrom } from "./discovery-config.js";

const failure = (env: Record<string, string>): ConfigError => {
  try {
    readDiscoveryConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error;
  }
  return assert.fail("no ConfigError");
};

describe("readDiscoveryConfig", () => {
  it("defaults: static registry, gRPC checks for Consul, no token, the system's DNS servers", () => {
    const config = readDiscoveryConfig({});
    assert.equal(config.registry.kind, "static");
    assert.equal(config.consulCheck, "grpc");
    assert.equal(config.consulToken, undefined);
    assert.equal(config.dnsServers, undefined);
  });

  it("reads the Consul check kind, the ACL token and the DNS servers, and hands them to createRegistryFromUrl", () => {
    const token = "6e8a3a2c-1f0e-4bb4-9a59-2e1a1a0e6b11";
    const config = readDiscoveryConfig({
      TRELLIS_REGISTRY: "consul://127.0.0.1:8500",
      TRELLIS_CONSUL_CHECK: "ttl",
      CONSUL_HTTP_TOKEN: ` ${token} `,
      TRELLIS_DNS_SERVERS: "127.0.0.1:8600,[::1]",
    });
    assert.deepEqual(config.registry, { kind: "consul", address: "http://127.0.0.1:8500" });
    assert.equal(config.consulCheck, "ttl");
    assert.equal(config.consulToken, token);
    assert.deepEqual(config.dnsServers, ["127.0.0.1:8600", "[::1]:53"]);
    const options = registryOptionsFrom(config);
    assert.deepEqual(options.consul, { check: "ttl" });
    assert.equal(options.consulToken, token);
    assert.deepEqual(options.dns, { servers: ["127.0.0.1:8600", "[::1]:53"] });
    assert.deepEqual(options.env, {}, "nothing is read from the environment a second time");
  });

  it("names the variable on one line for a bad check kind or DNS server", () => {
    const check = failure({ TRELLIS_CONSUL_CHECK: "http" });
    assert.equal(check.variable, "TRELLIS_CONSUL_CHECK");
    assert.equal(check.message, 'TRELLIS_CONSUL_CHECK must be one of grpc, ttl (got "http")');
    const dns = failure({ TRELLIS_DNS_SERVERS: "127.0.0.1:8600,consul.local" });
    assert.equal(dns.variable, "TRELLIS_DNS_SERVERS");
    assert.match(dns.message, /^TRELLIS_DNS_SERVERS: DNS server "consul\.local" is not an IP address/);
  });

  it("refuses a token that cannot be a header value without printing it", () => {
    const error = failure({ CONSUL_HTTP_TOKEN: "not a secret id" });
    assert.equal(error.variable, "CONSUL_HTTP_TOKEN");
    assert.ok(!error.message.includes("secret id"), error.message);
    assert.match(error.message, /^CONSUL_HTTP_TOKEN must be a Consul ACL token .*15 characters, not shown$/);
  });
});

describe("discoveryFor", () => {
  it("is the registry itself, except for trellis-dns targets of a service that registers elsewhere", async () => {
    const registry = createStaticRegistry({});
    const config = readDiscoveryConfig({ TRELLIS_DNS_SERVERS: "127.0.0.1:8600" });
    assert.equal(discoveryFor("static:///user", registry, config), registry);
    const dns = discoveryFor("trellis-dns:///user.service.consul", registry, config);
    assert.notEqual(dns, registry);
    assert.equal((dns as { scheme?: string }).scheme, "dns");
    await registry.close();
  });
});
