import { parseRegistryUrl, type RegistryFromUrlOptions, type RegistryUrl } from "../discovery/create-registry.js";
import { createDnsDiscovery, parseDnsServers } from "../discovery/dns-discovery.js";
import type { Discovery, Registry } from "../discovery/registry.js";
import { parseStaticConfig } from "../discovery/static-registry.js";
import { ConfigError, oneOf, readConfig, text, type Env, type EnvReader } from "./env.js";

/** The default static service map for running everything on one machine. */
export const LOCAL_SERVICES = "user=127.0.0.1:50051;chat=127.0.0.1:50052";

/**
 * A Consul ACL token: sent as an HTTP header, so printable ASCII without spaces (a SecretID
 * is a UUID). The error never echoes the value: it is a secret.
 */
const secretToken: EnvReader<string | undefined> = (env, name) => {
  const value = env[name]?.trim();
  if (value === undefined || value === "") return undefined;
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw new ConfigError(
      name,
      `${name} must be a Consul ACL token (a SecretID: printable characters, no spaces); the value set has ${value.length} characters, not shown`,
    );
  }
  return value;
};

function prefixed<T>(variable: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new Error(`${variable}: ${(error as Error).message}`);
  }
}

/** Discovery settings every Trellis service reads. */
export interface DiscoveryConfig {
  /** The raw `TRELLIS_REGISTRY` value. */
  readonly registryUrl: string;
  readonly registry: RegistryUrl;
  /** `TRELLIS_STATIC_SERVICES`, parsed (used with `TRELLIS_REGISTRY=static`). */
  readonly staticServices: Readonly<Record<string, readonly string[]>>;
  /** The host this instance registers (`TRELLIS_ADVERTISE_HOST`). */
  readonly advertiseHost: string;
  /** How Consul decides this instance's health (`TRELLIS_CONSUL_CHECK`): the agent calls grpc.health.v1, or a TTL this process passes. */
  readonly consulCheck: "grpc" | "ttl";
  /** The Consul ACL token (`CONSUL_HTTP_TOKEN`); undefined when unset. */
  readonly consulToken: string | undefined;
  /** DNS servers for `dns` discovery (`TRELLIS_DNS_SERVERS`); undefined: the system's. */
  readonly dnsServers: readonly string[] | undefined;
}

/**
 * Reads `TRELLIS_REGISTRY` (@default "static"), `TRELLIS_STATIC_SERVICES`
 * (@default LOCAL_SERVICES), `TRELLIS_ADVERTISE_HOST` (@default "127.0.0.1";
 * set it to the pod IP in Kubernetes), `TRELLIS_CONSUL_CHECK` (@default "grpc"),
 * `CONSUL_HTTP_TOKEN` (@default unset) and `TRELLIS_DNS_SERVERS` (@default unset: the
 * system's resolvers). Throws ConfigError with one line.
 */
export function readDiscoveryConfig(env: Env = process.env): DiscoveryConfig {
  const raw = readConfig(
    {
      TRELLIS_REGISTRY: text({ default: "static" }),
      TRELLIS_STATIC_SERVICES: text({ default: LOCAL_SERVICES }),
      TRELLIS_ADVERTISE_HOST: text({ default: "127.0.0.1", pattern: /^[\w.:-]+$/, expected: "a host name or IP address" }),
      TRELLIS_CONSUL_CHECK: oneOf(["grpc", "ttl"] as const, "grpc"),
      CONSUL_HTTP_TOKEN: secretToken,
      TRELLIS_DNS_SERVERS: text({ default: "" }),
    },
    env,
  );
  const wrap = <T>(variable: string, parse: () => T): T => {
    try {
      return parse();
    } catch (error) {
      throw new ConfigError(variable, (error as Error).message);
    }
  };
  return {
    registryUrl: raw.TRELLIS_REGISTRY,
    registry: wrap("TRELLIS_REGISTRY", () => parseRegistryUrl(raw.TRELLIS_REGISTRY)),
    staticServices: wrap("TRELLIS_STATIC_SERVICES", () => parseStaticConfig(raw.TRELLIS_STATIC_SERVICES)),
    advertiseHost: raw.TRELLIS_ADVERTISE_HOST,
    consulCheck: raw.TRELLIS_CONSUL_CHECK,
    consulToken: raw.CONSUL_HTTP_TOKEN,
    dnsServers:
      raw.TRELLIS_DNS_SERVERS === ""
        ? undefined
        : wrap("TRELLIS_DNS_SERVERS", () => prefixed("TRELLIS_DNS_SERVERS", () => parseDnsServers(raw.TRELLIS_DNS_SERVERS))),
  };
}

/** What {@link createRegistryFromUrl} needs from a DiscoveryConfig, so it reads no environment of its own. */
export function registryOptionsFrom(config: DiscoveryConfig): RegistryFromUrlOptions {
  return {
    staticServices: config.staticServices,
    consul: { check: config.consulCheck },
    ...(config.consulToken === undefined ? {} : { consulToken: config.consulToken }),
    ...(config.dnsServers === undefined ? {} : { dns: { servers: config.dnsServers } }),
    env: {},
  };
}

/**
 * The gRPC target for calling `service` through the configured registry:
 * `static:///user`, `etcd:///user`, `consul:///user`, or for DNS
 * `trellis-dns:///user:<port>` (set the real DNS name through the service's
 * `<NAME>_SERVICE_TARGET` variable in Kubernetes).
 */
export function serviceTarget(config: DiscoveryConfig, service: string, defaultPort: number): string {
  switch (config.registry.kind) {
    case "dns":
      return `trellis-dns:///${service}:${defaultPort}`;
    default:
      return `${config.registry.kind}:///${service}`;
  }
}

/**
 * The Discovery a client of `target` needs: the service's registry, except for a
 * `trellis-dns:` target while the service registers elsewhere — e.g. registered in Consul
 * and finding its peers through Consul's DNS interface — which gets a DNS discovery asking
 * `TRELLIS_DNS_SERVERS`.
 */
export function discoveryFor(target: string, registry: Registry, config: DiscoveryConfig): Discovery {
  if (!target.startsWith("trellis-dns:") || registry.scheme === "dns") return registry;
  return createDnsDiscovery(config.dnsServers === undefined ? {} : { servers: config.dnsServers });
}
