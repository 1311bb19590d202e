import type { ConsulRegistryOptions } from "./consul-registry.js";
import { createDnsDiscovery, type DnsDiscoveryOptions } from "./dns-discovery.js";
import type { EtcdRegistryOptions } from "./etcd-registry.js";
import type { Registry } from "./registry.js";
import { createStaticRegistry, formatHostPort, parseHostPort, parseStaticConfig } from "./static-registry.js";

/** What a `TRELLIS_REGISTRY` value asks for. */
export type RegistryUrl =
  | { readonly kind: "static" }
  | { readonly kind: "dns" }
  | { readonly kind: "etcd"; readonly endpoints: readonly string[] }
  | { readonly kind: "consul"; readonly address: string };

/** Options of {@link createRegistryFromUrl}; each applies to one kind of registry. */
export interface RegistryFromUrlOptions {
  /** Addresses for `static`. @default parsed from `TRELLIS_STATIC_SERVICES` (none when unset) */
  readonly staticServices?: Readonly<Record<string, readonly string[]>>;
  /** Options for `dns`. @default {} */
  readonly dns?: DnsDiscoveryOptions;
  /** Options for `etcd://`, besides the endpoints from the URL. @default {} */
  readonly etcd?: Omit<EtcdRegistryOptions, "endpoints">;
  /** Options for `consul://`, besides the address from the URL and the token. @default {} */
  readonly consul?: Omit<ConsulRegistryOptions, "address" | "token">;
  /** ACL token for `consul://`. @default env CONSUL_HTTP_TOKEN (unset: no token) */
  readonly consulToken?: string;
  /** Where the defaults above are read. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

function invalid(url: string): Error {
  return new Error(`TRELLIS_REGISTRY must be static, dns, etcd://host:port or consul://host:port (got "${url}")`);
}

/** `host:port[,host:port...]` after `scheme://`, each port defaulting to `defaultPort`. */
function hostList(url: string, scheme: string, defaultPort: number): string[] | undefined {
  const match = new RegExp(`^${scheme}://([^/?#]+)/?$`).exec(url);
  if (!match) return undefined;
  const addresses = (match[1] ?? "").split(",").map((part) => parseHostPort(part, defaultPort));
  if (addresses.some((address) => address === undefined)) return undefined;
  return addresses.map((address) => formatHostPort(address?.host ?? "", address?.port ?? 0));
}

/**
 * Validates a `TRELLIS_REGISTRY` value: `static` | `dns` | `etcd://host:2379[,host:2379]` |
 * `consul://host:8500` (ports default to 2379 and 8500). Throws an Error with one line
 * naming the variable.
 */
export function parseRegistryUrl(url: string): RegistryUrl {
  const value = url.trim();
  if (value === "static") return { kind: "static" };
  if (value === "dns") return { kind: "dns" };
  if (value.startsWith("etcd://")) {
    const endpoints = hostList(value, "etcd", 2379);
    if (endpoints) return { kind: "etcd", endpoints };
  }
  if (value.startsWith("consul://")) {
    const hosts = hostList(value, "consul", 8500);
    // The consul agent is one HTTP address; several hosts are a client-side failover it does not do.
    if (hosts?.length === 1) return { kind: "consul", address: `http://${hosts[0] ?? ""}` };
  }
  throw invalid(url);
}

/**
 * The registry `TRELLIS_REGISTRY` names. static and dns are built in; the etcd and consul
 * adapters are imported dynamically, so their clients stay off the import path of services
 * that don't use them. Throws (rejects) with one line on a malformed value.
 */
export async function createRegistryFromUrl(url: string, options: RegistryFromUrlOptions = {}): Promise<Registry> {
  const parsed = parseRegistryUrl(url);
  const env = options.env ?? process.env;
  switch (parsed.kind) {
    case "static":
      return createStaticRegistry(options.staticServices ?? parseStaticConfig(env["TRELLIS_STATIC_SERVICES"] ?? ""));
    case "dns":
      return createDnsDiscovery(options.dns);
    case "etcd": {
      const { createEtcdRegistry } = await import("./etcd-registry.js");
      return createEtcdRegistry({ ...options.etcd, endpoints: parsed.endpoints });
    }
    case "consul": {
      const { createConsulRegistry } = await import("./consul-registry.js");
      const fromEnv = env["CONSUL_HTTP_TOKEN"]?.trim();
      const token = options.consulToken ?? (fromEnv === "" ? undefined : fromEnv);
      return createConsulRegistry({
        tokenName: "CONSUL_HTTP_TOKEN",
        ...options.consul,
        address: parsed.address,
        ...(token === undefined ? {} : { token }),
      });
    }
  }
}
