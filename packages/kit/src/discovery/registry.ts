/**
 * Service discovery contracts, after Kratos' Registrar / Discovery split: a small
 * core of interfaces in the kit, one adapter per backend (static, dns, consul,
 * etcd). Adapters are instances passed in, never module globals.
 */

/** One running instance of a service, as a registry knows it. */
export interface ServiceInstance {
  /** Unique per instance (e.g. `user-<host>-<port>-<random>`); the registry key. */
  readonly id: string;
  /** The logical service name (`user`, `chat`). */
  readonly service: string;
  /** Address clients dial: an IP or a host name. */
  readonly host: string;
  readonly port: number;
  /** Free-form labels (version, zone). @default {} */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Announces instances. Register once the instance is SERVING; deregister before it drains. */
export interface Registrar {
  /** Idempotent: registering the same id again refreshes it. Keeps it alive (lease/TTL) until deregistered. */
  register(instance: ServiceInstance): Promise<void>;
  /** Idempotent: deregistering an unknown id is not an error. */
  deregister(instance: ServiceInstance): Promise<void>;
}

/** Finds instances. */
export interface Discovery {
  /**
   * The healthy instances of `service`: yields the full current set first (possibly empty, but
   * only after the backend answered — never a silent empty set while the backend is unreachable),
   * then the full set again after every change, until `signal` aborts. A backend outage is
   * retried with backoff inside the iterator; it surfaces as an error only when
   * `signal` is not aborted and the backend was never reachable within the first
   * attempt's deadline (so a misconfigured address fails loudly at start).
   */
  watch(service: string, signal: AbortSignal): AsyncIterable<readonly ServiceInstance[]>;
}

/** A backend that both announces and finds. */
export interface Registry extends Registrar, Discovery {
  /** The URI scheme clients use with this registry (`etcd`, `consul`, `static`, `dns`). */
  readonly scheme: string;
  /** Deregisters what this process registered (best effort) and releases connections. */
  close(): Promise<void>;
}
