import { isIP } from "node:net";
import type { Registry, ServiceInstance } from "./registry.js";

/** A dialable address: `host` is a name or a bare IP (IPv6 without brackets). */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

// Host names as DNS and Kubernetes spell them; IP literals are checked with net.isIP.
const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const PORT = /^[0-9]{1,5}$/;

/**
 * Parses `host:port`, `[v6]:port`, and (with `defaultPort`) `host`, `[v6]` or a bare IPv6.
 * Returns `undefined` when `text` is malformed so that callers can name the bad part in
 * their own error message. Port 0 is rejected: these are addresses to dial.
 */
export function parseHostPort(text: string, defaultPort?: number): HostPort | undefined {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const match = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
    if (!match || isIP(match[1] ?? "") !== 6) return undefined;
    host = match[1] ?? "";
    portText = match[2];
  } else if (isIP(text) === 6) {
    host = text;
  } else {
    const colon = text.lastIndexOf(":");
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
    if (isIP(host) !== 4 && !HOST_NAME.test(host)) return undefined;
  }
  if (portText === undefined) return defaultPort === undefined ? undefined : { host, port: defaultPort };
  if (!PORT.test(portText)) return undefined;
  const port = Number(portText);
  return port >= 1 && port <= 65535 ? { host, port } : undefined;
}

/** Formats an address for dialing: `host:port`, `[v6]:port`. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The instance a configured address stands for; its id is the address itself. */
function configuredInstance(service: string, address: HostPort): ServiceInstance {
  return { id: formatHostPort(address.host, address.port), service, host: address.host, port: address.port, metadata: {} };
}

/**
 * Parses a services list as kept in an environment variable:
 * `user=127.0.0.1:50051,127.0.0.1:50061;chat=127.0.0.1:50052`. Blank entries are ignored;
 * a service named twice gets the addresses of both entries. Throws an Error with one line
 * naming the variable and the bad entry.
 * @param variable The variable named in errors. @default "TRELLIS_STATIC_SERVICES"
 */
export function parseStaticConfig(text: string, variable = "TRELLIS_STATIC_SERVICES"): Record<string, string[]> {
  const services: Record<string, string[]> = {};
  for (const rawEntry of text.split(";")) {
    const entry = rawEntry.trim();
    if (entry === "") continue;
    const bad = (why: string): Error =>
      new Error(`${variable} entry "${entry}" ${why}; expected name=host:port[,host:port...] separated by ";"`);
    const eq = entry.indexOf("=");
    if (eq === -1) throw bad('has no "="');
    const name = entry.slice(0, eq).trim();
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw bad("has a bad service name");
    const addresses = entry
      .slice(eq + 1)
      .split(",")
      .map((a) => a.trim());
    for (const address of addresses) {
      if (!parseHostPort(address)) throw bad(`has a bad address "${address}"`);
    }
    services[name] = [...(services[name] ?? []), ...addresses];
  }
  return services;
}

/**
 * A registry whose instances come from configuration, plus whatever this process registers
 * (so in-process servers are discoverable in tests and single-process setups).
 * `watch` yields the current set, then again whenever an in-process register/deregister
 * changes it, until `signal` aborts or the registry is closed.
 * Throws at creation when a configured address is malformed.
 */
export function createStaticRegistry(services: Readonly<Record<string, readonly string[]>>): Registry {
  const configured = new Map<string, readonly ServiceInstance[]>();
  for (const [service, addresses] of Object.entries(services)) {
    configured.set(
      service,
      addresses.map((text) => {
        const address = parseHostPort(text);
        if (!address) throw new Error(`static registry: service "${service}" has a bad address "${text}" (expected host:port)`);
        return configuredInstance(service, address);
      }),
    );
  }
  /** service → id → instance, for instances registered in this process. */
  const registered = new Map<string, Map<string, ServiceInstance>>();
  /** Wakes the watchers of a service; per registry, so two registries never see each other. */
  const listeners = new Set<(service: string) => void>();
  const closed = new AbortController();

  const current = (service: string): readonly ServiceInstance[] => {
    const byId = new Map<string, ServiceInstance>();
    for (const instance of configured.get(service) ?? []) byId.set(instance.id, instance);
    for (const instance of registered.get(service)?.values() ?? []) byId.set(instance.id, instance);
    return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  };
  const notify = (service: string): void => {
    for (const listener of listeners) listener(service);
  };

  return {
    scheme: "static",
    async register(instance) {
      let byId = registered.get(instance.service);
      if (!byId) registered.set(instance.service, (byId = new Map()));
      byId.set(instance.id, { ...instance, metadata: { ...instance.metadata } });
      notify(instance.service);
    },
    async deregister(instance) {
      if (registered.get(instance.service)?.delete(instance.id)) notify(instance.service);
    },
    async close() {
      registered.clear();
      closed.abort();
    },
    async *watch(service, signal) {
      const stop = AbortSignal.any([signal, closed.signal]);
      let changed = true;
      let last: string | undefined;
      let wake: (() => void) | undefined;
      const listener = (name: string): void => {
        if (name !== service) return;
        changed = true;
        wake?.();
      };
      const onAbort = (): void => wake?.();
      listeners.add(listener);
      stop.addEventListener("abort", onAbort);
      try {
        while (!stop.aborted) {
          if (changed) {
            changed = false;
            const instances = current(service);
            // Re-registering an unchanged instance is not a change worth a yield.
            const key = JSON.stringify(instances);
            if (key !== last) {
              last = key;
              yield instances;
            }
            continue;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        listeners.delete(listener);
        stop.removeEventListener("abort", onAbort);
      }
    },
  };
}
