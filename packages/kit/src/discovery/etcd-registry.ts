import { Etcd3, type IKeyValue, type IWatchResponse, type Lease, type Watcher } from "etcd3";
import { setTimeout as delay } from "node:timers/promises";
import { backoffDelay, checkedBackoff, type BackoffOptions } from "../resilience/backoff.js";
import type { Registry, ServiceInstance } from "./registry.js";
import { formatHostPort, parseHostPort } from "./static-registry.js";

/** Options of {@link createEtcdRegistry}. */
export interface EtcdRegistryOptions {
  /** etcd endpoints, `host:port` or `http(s)://host:port`. */
  readonly endpoints: readonly string[];
  /** Key prefix; instances live at `<prefix><service>/<id>`. @default "/trellis/services/" */
  readonly prefix?: string;
  /** Lease TTL: how long a crashed process' instances outlive it. @default 10 */
  readonly leaseTtlSeconds?: number;
  /**
   * Bound on every etcd request (register, deregister, list), and on how long a watch keeps
   * retrying its first list before it fails with "etcd at ... is unreachable".
   * @default 5000
   */
  readonly requestTimeoutMs?: number;
  /** Retry delays after a failed watch or lease. @default { initialMs: 500, maxMs: 10000, jitter: "equal" } */
  readonly backoff?: BackoffOptions;
  /** Jitter source in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Clock for the first list's deadline, in ms. @default Date.now */
  readonly now?: () => number;
  /** Hears about skipped values and recovered failures. @default ignores them */
  readonly onWarning?: (message: string, error?: unknown) => void;
}

/**
 * Parses `etcd://host:2379[,host2:2379]` (port @default 2379) into `host:port` endpoints.
 * Throws an Error with one line naming the bad part.
 */
export function parseEtcdUrl(url: string): string[] {
  const match = /^etcd:\/\/([^/?#]*)\/?$/.exec(url);
  if (!match || match[1] === "") throw new Error(`etcd URL must look like etcd://host:port[,host:port...] (got "${url}")`);
  return (match[1] ?? "").split(",").map((part) => {
    const address = parseHostPort(part, 2379);
    if (!address) throw new Error(`etcd URL "${url}" has a bad endpoint "${part}" (expected host:port)`);
    return formatHostPort(address.host, address.port);
  });
}

function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // grpc-js appends an empty "Resolution note: " to connection errors; keep the line clean.
  return text.replace(/\s*Resolution note:\s*$/, "").trim();
}

/** Rejects with `timeoutError()` when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  const controller = new AbortController();
  const timeout = delay(ms, undefined, { signal: controller.signal }).then(() => {
    throw timeoutError();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    controller.abort();
    timeout.catch(() => undefined);
  }
}

/** Parses one stored instance; `undefined` when the value is not one. */
function parseInstance(value: string): ServiceInstance | undefined {
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof data !== "object" || data === null) return undefined;
  const { id, service, host, port, metadata } = data as Record<string, unknown>;
  if (typeof id !== "string" || id === "" || typeof service !== "string" || typeof host !== "string" || host === "") return undefined;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const labels: Record<string, string> = {};
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== "object") return undefined;
    for (const [key, label] of Object.entries(metadata)) {
      if (typeof label !== "string") return undefined;
      labels[key] = label;
    }
  }
  return { id, service, host, port, metadata: labels };
}

/** A one-slot wake-up for a loop that waits on events or an abort. */
function createWakeup(signal: AbortSignal) {
  let wake: (() => void) | undefined;
  let pending = false;
  const fire = (): void => {
    pending = true;
    wake?.();
  };
  signal.addEventListener("abort", fire, { once: true });
  return {
    fire,
    async wait(): Promise<void> {
      if (!pending) await new Promise<void>((resolve) => (wake = resolve));
      pending = false;
      wake = undefined;
    },
    dispose: () => signal.removeEventListener("abort", fire),
  };
}

/**
 * A registry on etcd v3. `register` puts `<prefix><service>/<id>` → JSON instance under one
 * lease per registry, kept alive by the client; if the lease is lost (etcd restarted without
 * its data, keep-alives failed past the TTL) a new one is granted and every key put again.
 * `close()` revokes the lease, so this process' instances vanish at once; a crashed process'
 * vanish when the lease expires. `watch` lists the prefix, then follows a prefix watch from
 * the listed revision; on watch errors it lists and watches again with backoff.
 */
export function createEtcdRegistry(options: EtcdRegistryOptions): Registry {
  const prefix = options.prefix ?? "/trellis/services/";
  const ttl = options.leaseTtlSeconds ?? 10;
  const timeoutMs = options.requestTimeoutMs ?? 5000;
  const retry = checkedBackoff(options.backoff, { initialMs: 500, maxMs: 10_000, jitter: "equal" });
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const warn = options.onWarning ?? (() => undefined);
  if (options.endpoints.length === 0) throw new Error("etcd registry: no endpoints given");
  const where = options.endpoints.map((e) => e.replace(/^https?:\/\//, "")).join(",");
  const hosts = options.endpoints.map((e) => (/^https?:\/\//.test(e) ? e : `http://${e}`));
  const client = new Etcd3({ hosts, dialTimeout: timeoutMs });
  const unreachable = (error: unknown): Error => new Error(`etcd at ${where} is unreachable: ${message(error)}`, { cause: error });
  const timedOut = (): Error => unreachable(`no answer within ${timeoutMs} ms`);
  const request = <T>(promise: Promise<T>, ms = timeoutMs): Promise<T> =>
    within(promise, ms, () => unreachable(`no answer within ${ms} ms`)).catch((error: unknown) => {
      throw error instanceof Error && error.message.startsWith("etcd at ") ? error : unreachable(error);
    });
  const backoff = (failures: number): number => backoffDelay(failures, retry, random);

  const closed = new AbortController();
  /** key → value of what this process registered; re-put under a new lease. */
  const registered = new Map<string, string>();
  let lease: Lease | undefined;
  let leaseFailures = 0;

  const keyOf = (instance: ServiceInstance): string => `${prefix}${instance.service}/${instance.id}`;

  /** The current lease, granted on first use. */
  const currentLease = (): Lease => {
    if (lease) return lease;
    const fresh = client.lease(ttl);
    lease = fresh;
    fresh.on("lost", (error) => {
      if (lease !== fresh || closed.signal.aborted) return;
      lease = undefined;
      void renew(error);
    });
    fresh.on("keepaliveSucceeded", () => (leaseFailures = 0));
    return fresh;
  };

  /** Grants a new lease after a loss and puts every registered key again, retrying with backoff. */
  const renew = async (cause: unknown): Promise<void> => {
    warn(`etcd registry: lease lost (${message(cause)}); granting a new one`, cause);
    await delay(backoff(++leaseFailures), undefined, { signal: closed.signal }).catch(() => undefined);
    // Nothing registered: the next register grants a lease lazily.
    if (closed.signal.aborted || registered.size === 0 || lease) return;
    const fresh = currentLease();
    try {
      for (const [key, value] of registered) await request(fresh.put(key).value(value).exec());
      leaseFailures = 0;
    } catch (error) {
      // A failed grant already fired "lost" (→ another renew); a failed put on a live lease did not.
      // (a cast: TS keeps the narrowing from above across the awaits)
      if ((lease as Lease | undefined) === fresh) {
        lease = undefined;
        fresh.release();
        void renew(error);
      }
    }
  };

  const list = async (keyPrefix: string, ms?: number): Promise<{ instances: Map<string, ServiceInstance>; revision: number }> => {
    const response = await request(client.getAll().prefix(keyPrefix).exec(), ms);
    const instances = new Map<string, ServiceInstance>();
    for (const kv of response.kvs) apply(instances, "Put", kv);
    return { instances, revision: Number(response.header.revision) };
  };

  const apply = (instances: Map<string, ServiceInstance>, type: "Put" | "Delete", kv: IKeyValue): void => {
    const key = kv.key.toString();
    if (type === "Delete") {
      instances.delete(key);
      return;
    }
    const instance = parseInstance(kv.value.toString());
    if (instance) instances.set(key, instance);
    else {
      instances.delete(key);
      warn(`etcd registry: skipped malformed instance at ${key}: ${JSON.stringify(kv.value.toString().slice(0, 200))}`);
    }
  };

  /**
   * Open etcd watchers. close() cancels them itself: grpc-js keeps the socket of a channel
   * open while a stream on it is active, and a watch whose consumer stopped pulling never
   * reaches its own `finally`.
   */
  const watchers = new Set<Watcher>();

  /** Cancels a watcher, bounded: a cancel sent to a dead etcd must not hang the caller. */
  const cancel = async (watcher: Watcher | undefined): Promise<void> => {
    if (!watcher || !watchers.delete(watcher)) return;
    await within(watcher.cancel(), timeoutMs, timedOut).catch(() => undefined);
  };

  const snapshot = (instances: Map<string, ServiceInstance>): ServiceInstance[] =>
    [...instances.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  return {
    scheme: "etcd",

    async register(instance) {
      if (closed.signal.aborted) throw new Error("etcd registry is closed");
      const key = keyOf(instance);
      const value = JSON.stringify({
        id: instance.id,
        service: instance.service,
        host: instance.host,
        port: instance.port,
        metadata: instance.metadata ?? {},
      });
      const previous = registered.get(key);
      registered.set(key, value);
      try {
        await request(currentLease().put(key).value(value).exec());
      } catch (error) {
        // A failed refresh keeps the earlier registration (and its re-put after a lease loss).
        if (previous === undefined) registered.delete(key);
        else registered.set(key, previous);
        throw error;
      }
    },

    async deregister(instance) {
      if (closed.signal.aborted) return; // close() revoked the lease: nothing is left to delete
      const key = keyOf(instance);
      registered.delete(key);
      await request(client.delete().key(key).exec());
    },

    async close() {
      if (closed.signal.aborted) return;
      closed.abort();
      registered.clear();
      const last = lease;
      lease = undefined;
      await Promise.all([...watchers].map(cancel));
      try {
        if (last) await request(last.revoke());
      } catch (error) {
        warn(`etcd registry: could not revoke the lease; its keys expire within ${ttl} s`, error);
      } finally {
        client.close();
      }
    },

    async *watch(service, signal) {
      const stop = AbortSignal.any([signal, closed.signal]);
      const keyPrefix = `${prefix}${service}/`;
      const wakeup = createWakeup(stop);
      let instances: Map<string, ServiceInstance> | undefined;
      let last: string | undefined;
      let failures = 0;
      let watcher: Watcher | undefined;
      const pending: IWatchResponse[] = [];
      let broken: unknown;
      const deadline = now() + timeoutMs;
      let firstError: Error | undefined;
      // Free the etcd watch as soon as the caller aborts, even while it holds a yielded value.
      const onStop = (): void => void cancel(watcher);
      stop.addEventListener("abort", onStop, { once: true });
      try {
        while (!stop.aborted) {
          if (!watcher) {
            let revision: number;
            try {
              // Until the first answer, every attempt shares one deadline.
              const listed = await list(keyPrefix, last === undefined ? Math.max(1, deadline - now()) : timeoutMs);
              instances = listed.instances;
              revision = listed.revision;
            } catch (error) {
              if (stop.aborted) return;
              if (last === undefined) {
                // Retry while etcd may still be starting (compose, CI), but never yield an empty
                // pool for an etcd that never answered: fail loudly once the deadline passes.
                // The first error names the cause best (later ones say "circuit breaker is open").
                firstError ??= error instanceof Error ? error : unreachable(error);
                const left = deadline - now();
                if (left <= 0) throw new Error(`${firstError.message} (retried for ${timeoutMs} ms)`, { cause: firstError });
                await delay(Math.min(left, backoff(++failures)), undefined, { signal: stop }).catch(() => undefined);
                continue;
              }
              warn(`etcd registry: listing ${keyPrefix} failed; retrying`, error);
              await delay(backoff(++failures), undefined, { signal: stop }).catch(() => undefined);
              continue;
            }
            const current = snapshot(instances);
            const key = JSON.stringify(current);
            if (key !== last) {
              last = key;
              yield current;
            }
            if (stop.aborted) return;
            pending.length = 0;
            broken = undefined;
            const fresh = client
              .watch()
              .prefix(keyPrefix)
              .startRevision(String(revision + 1))
              .watcher();
            fresh.on("data", (response) => {
              pending.push(response);
              wakeup.fire();
            });
            // The client would resubscribe by itself; re-listing instead also covers compaction.
            const onBroken = (error: unknown): void => {
              if (watcher !== fresh) return; // a watcher we cancelled on purpose
              broken ??= error ?? new Error("watch ended");
              wakeup.fire();
            };
            // etcd accepted the watch: the outage, if any, is over.
            fresh.on("connected", () => (failures = 0));
            fresh.on("disconnected", onBroken);
            fresh.on("error", onBroken);
            fresh.on("end", () => onBroken(new Error("watch ended")));
            watcher = fresh;
            watchers.add(fresh);
          }
          await wakeup.wait();
          if (stop.aborted) return;
          if (pending.length > 0 && instances) {
            for (const response of pending.splice(0)) {
              for (const event of response.events) apply(instances, event.type, event.kv);
            }
            const current = snapshot(instances);
            const key = JSON.stringify(current);
            if (key !== last) {
              last = key;
              yield current;
            }
          }
          if (broken !== undefined) {
            warn(`etcd registry: watch on ${keyPrefix} broke (${message(broken)}); listing again`, broken);
            const old = watcher;
            watcher = undefined;
            await cancel(old);
            await delay(backoff(++failures), undefined, { signal: stop }).catch(() => undefined);
          }
        }
      } finally {
        stop.removeEventListener("abort", onStop);
        wakeup.dispose();
        const old = watcher;
        watcher = undefined;
        await cancel(old);
      }
    },
  };
}
