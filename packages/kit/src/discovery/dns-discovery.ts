import * as dns from "node:dns/promises";
import { isIP } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import type { Registry, ServiceInstance } from "./registry.js";
import { backoffDelay, checkedBackoff, type BackoffOptions } from "../resilience/backoff.js";
import { createTcpDnsResolver } from "./dns-tcp-resolver.js";
import { formatHostPort, parseHostPort } from "./static-registry.js";

/** An SRV record, as `node:dns/promises` returns it. */
export interface SrvRecord {
  readonly name: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
  /** A/AAAA of `name` the server sent along (additional section), when the resolver keeps them. @default undefined (look them up) */
  readonly addresses?: readonly string[];
}

/** The lookups {@link createDnsDiscovery} needs; `node:dns/promises` fits. */
export interface DnsResolver {
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
  resolveSrv(name: string): Promise<SrvRecord[]>;
}

/** Waits `ms`, or less if `signal` aborts; never rejects. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

/** Options of {@link createDnsDiscovery}. */
export interface DnsDiscoveryOptions {
  /** The resolver. @default node:dns/promises, asking `servers` when given */
  readonly resolver?: DnsResolver;
  /**
   * DNS servers to ask instead of the system's (`/etc/resolv.conf`), as {@link parseDnsServers}
   * returns them, e.g. `["127.0.0.1:8600"]` for a local Consul agent. They are asked over TCP
   * (`dns-tcp-resolver.ts`: over UDP, Node gets at most 512 bytes and Consul silently keeps
   * 3 records). Ignored when `resolver` is given.
   * @default undefined (the system's servers, through node:dns)
   */
  readonly servers?: readonly string[];
  /** Port for `host` names that carry none. @default 50051 */
  readonly defaultPort?: number;
  /**
   * How often a name is resolved again. Re-resolving is what makes scale-ups visible to
   * existing channels (grpc-js' own dns resolver only re-resolves on connection loss).
   * @default 5000
   */
  readonly refreshIntervalMs?: number;
  /** Retry delays after a failed re-resolution. @default { initialMs: 1000, maxMs: 30000, jitter: "equal" } */
  readonly backoff?: BackoffOptions;
  /** Timer, injected so tests run without waiting. @default node:timers/promises setTimeout */
  readonly sleep?: Sleep;
  /** Jitter source in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/**
 * Parses a DNS server list as kept in an environment variable: comma-separated `ip`,
 * `ip:port` or `[ipv6]:port` (port 53 when absent), e.g. `127.0.0.1:8600` for a Consul
 * agent's DNS interface. Only IP addresses: a server's name would itself need a resolver.
 * Throws an Error with one line naming the bad entry.
 */
export function parseDnsServers(list: string): string[] {
  const entries = list.split(",").map((entry) => entry.trim());
  return entries.map((entry) => {
    const address = parseHostPort(entry, 53);
    if (address === undefined || isIP(address.host) === 0) {
      throw new Error(`DNS server "${entry}" is not an IP address with an optional port (expected e.g. 127.0.0.1:8600 or [::1]:8600)`);
    }
    return formatHostPort(address.host, address.port);
  });
}

/** Error codes meaning "this name has no records": an empty pool, not an outage. */
const NO_RECORDS = new Set(["ENOTFOUND", "ENODATA"]);

function isNoRecords(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && NO_RECORDS.has(code);
}

const defaultSleep: Sleep = (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined);

/** Resolves with `promise`, or with `undefined` as soon as `signal` aborts. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function byId(a: ServiceInstance, b: ServiceInstance): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Discovery through DNS records managed by the platform (e.g. a Kubernetes headless
 * service, Consul's DNS interface), so `register`/`deregister` are no-ops. `watch(name)` takes
 * - an SRV name (starts with `_`, e.g. `_grpc._tcp.user.default.svc.cluster.local`): SRV,
 *   then A/AAAA of each target;
 * - `host:port`: A and AAAA with that port (an IP literal is used as is);
 * - `host` without a port (e.g. Consul's `user.service.consul`): SRV as above when the name
 *   has SRV records, else A and AAAA with `defaultPort`;
 * re-resolves every `refreshIntervalMs` and yields only when the set changed.
 *
 * NXDOMAIN / no data yields an empty set. Other failures keep the last set and retry with
 * backoff, except on the first resolution, where they throw from the iterator so that a
 * broken resolver fails loudly instead of yielding an empty pool.
 */
export function createDnsDiscovery(options: DnsDiscoveryOptions = {}): Registry {
  const resolver = options.resolver ?? (options.servers === undefined ? dns : createTcpDnsResolver({ servers: options.servers }));
  const defaultPort = options.defaultPort ?? 50051;
  const refreshIntervalMs = options.refreshIntervalMs ?? 5000;
  const retry = checkedBackoff(options.backoff, { initialMs: 1000, maxMs: 30_000, jitter: "equal" });
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const closed = new AbortController();

  /** A and AAAA of `host`; an empty list when the name has no records. */
  const addressesOf = async (host: string): Promise<string[]> => {
    if (isIP(host)) return [host];
    const lookups = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
    const addresses: string[] = [];
    for (const lookup of lookups) {
      if (lookup.status === "fulfilled") addresses.push(...lookup.value);
      else if (!isNoRecords(lookup.reason)) throw lookup.reason;
    }
    return addresses;
  };

  const resolveOnce = async (service: string): Promise<ServiceInstance[]> => {
    const found = new Map<string, ServiceInstance>();
    const add = (host: string, port: number, metadata: Record<string, string>): void => {
      const id = formatHostPort(host, port);
      if (!found.has(id)) found.set(id, { id, service, host, port, metadata });
    };
    /** SRV records of `name`, then A/AAAA of each target; false when the name has no SRV records. */
    const viaSrv = async (name: string): Promise<boolean> => {
      let records: SrvRecord[];
      try {
        records = await resolver.resolveSrv(name);
      } catch (error) {
        if (isNoRecords(error)) return false;
        throw error;
      }
      const targets = await Promise.all(records.map((record) => record.addresses ?? addressesOf(record.name)));
      records.forEach((record, i) => {
        const metadata = { target: record.name, priority: String(record.priority), weight: String(record.weight) };
        for (const host of targets[i] ?? []) add(host, record.port, metadata);
      });
      return records.length > 0;
    };
    if (service.startsWith("_")) {
      await viaSrv(service);
      return [...found.values()].sort(byId);
    }
    const explicit = parseHostPort(service);
    const address = explicit ?? parseHostPort(service, defaultPort);
    if (!address) throw new Error(`dns discovery: "${service}" is neither host[:port] nor an SRV name (_service._proto.name)`);
    // A name without a port asks SRV first: that is where Consul (`user.service.consul`)
    // and other service registries publish the port. Without SRV records, A/AAAA and the
    // default port.
    if (explicit === undefined && isIP(address.host) === 0 && (await viaSrv(address.host))) return [...found.values()].sort(byId);
    for (const host of await addressesOf(address.host)) add(host, address.port, {});
    return [...found.values()].sort(byId);
  };

  return {
    scheme: "dns",
    async register() {
      // DNS records belong to the platform (Kubernetes, Consul DNS, a zone file).
    },
    async deregister() {},
    async close() {
      closed.abort();
    },
    async *watch(service, signal) {
      const stop = AbortSignal.any([signal, closed.signal]);
      let last: string | undefined;
      let failures = 0;
      while (!stop.aborted) {
        let instances: ServiceInstance[] | undefined;
        try {
          instances = await unlessAborted(resolveOnce(service), stop);
        } catch (error) {
          if (stop.aborted) return;
          if (last === undefined) {
            const reason = error instanceof Error ? error.message : String(error);
            throw new Error(`dns discovery: resolving "${service}" failed: ${reason}`, { cause: error });
          }
          // Keep serving the last known set: a DNS hiccup must not empty the pool.
          failures++;
          await sleep(backoffDelay(failures, retry, random), stop);
          continue;
        }
        if (instances === undefined) return;
        failures = 0;
        const key = JSON.stringify(instances);
        if (key !== last) {
          last = key;
          yield instances;
        }
        if (stop.aborted) return; // aborted while the consumer held the value
        await sleep(refreshIntervalMs, stop);
      }
    },
  };
}
