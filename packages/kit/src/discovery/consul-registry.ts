/**
 * Consul adapter for the discovery contracts, over the agent's HTTP API with
 * Node's global `fetch` (no client library).
 *
 * What was tested, and against what: `consul-registry.spec.ts` runs this adapter
 * against `fake-consul-server.ts`, an in-process `node:http` server that
 * reproduces the documented Consul HTTP API semantics for exactly the endpoints
 * used here (agent service register/deregister, TTL check pass, health service
 * list with `passing` and blocking `index`/`wait` queries, `X-Consul-Index`, ACL
 * tokens, TTL expiry and DeregisterCriticalServiceAfter), written from Consul's
 * API docs and agent source. It covers registration seen by a watcher,
 * instances appearing and leaving, heartbeats, a crashed process dropping out
 * after its TTL and being reaped, blocking behaviour, index resets, retried 5xx,
 * an unreachable agent, ACL errors and abort. It has NOT been run against a real
 * Consul agent: the fake's single global index, exact reap timing and
 * unprobed gRPC checks differ from Consul, so run it once against `consul agent
 * -dev` before relying on it in production.
 */
import { setTimeout as sleepFor } from "node:timers/promises";
import type { Registry, ServiceInstance } from "./registry.js";

/** Options of {@link createConsulRegistry}. */
export interface ConsulRegistryOptions {
  /** The agent's HTTP API, e.g. `http://127.0.0.1:8500` ({@link parseConsulUrl} turns `consul://` into this). */
  readonly address: string;
  /** ACL token, sent as `X-Consul-Token` on every request; the caller reads `CONSUL_HTTP_TOKEN`. @default undefined (no header) */
  readonly token?: string;
  /**
   * Who decides health: `ttl` — this process heartbeats a TTL check every ttl/3;
   * `grpc` — Consul probes the instance's grpc.health.v1 itself.
   * @default "ttl"
   */
  readonly check?: "ttl" | "grpc";
  /** TTL of the check in `ttl` mode. @default 10 */
  readonly ttlSeconds?: number;
  /** Consul deregisters an instance whose check stayed critical this long (Go duration; Consul's minimum is 1m). @default "1m" */
  readonly deregisterCriticalAfter?: string;
  /** How long one blocking health query may wait for a change. @default 30 */
  readonly blockingWaitSeconds?: number;
  /** Probe interval in `grpc` mode (Go duration). @default "5s" */
  readonly grpcCheckInterval?: string;
  /**
   * The grpc.health.v1 service name Consul asks about in `grpc` mode. The Trellis
   * server reports "" (the whole server) and full proto service names, not the
   * logical name, so "" is the safe default.
   * @default ""
   */
  readonly grpcHealthService?: string;
  /** `watch` throws when the agent has not answered successfully within this long of starting. @default 5000 */
  readonly startTimeoutMs?: number;
  /** Deadline of each non-blocking request (register, deregister, heartbeat). @default 5000 */
  readonly requestTimeoutMs?: number;
  /** Retry delays of `watch`: exponential from `initialMs`, capped at `maxMs`, with jitter. @default { initialMs: 200, maxMs: 10000 } */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Jitter source, in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Clock for the start deadline. @default Date.now */
  readonly now?: () => number;
  /** Resolves after `ms`, or early (resolving or rejecting) once `signal` aborts. @default node:timers/promises setTimeout */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Errors handled inside the registry: failed heartbeats, retried watch requests. @default ignored */
  readonly onError?: (error: Error) => void;
}

/** An error from Consul: `status` and `body` are set when the agent answered with a non-2xx status. */
export class ConsulError extends Error {
  override readonly name = "ConsulError";
  constructor(
    message: string,
    readonly status?: number,
    readonly body?: string,
  ) {
    super(message);
  }
}

/**
 * `consul://host[:port]` → `http://host:port` (port 8500 when absent).
 * Throws a one-line Error naming the value when it is not of that form.
 */
export function parseConsulUrl(value: string): string {
  const invalid = (why: string): Error => new Error(`invalid consul URL ${JSON.stringify(value)}: ${why} (expected consul://host[:port])`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid("not a URL");
  }
  if (url.protocol !== "consul:") throw invalid(`scheme is ${JSON.stringify(url.protocol.slice(0, -1))}`);
  if (url.hostname === "") throw invalid("no host");
  if (url.username !== "" || url.password !== "") throw invalid("credentials belong in the token option");
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") throw invalid("unexpected path or query");
  return `http://${url.hostname}:${url.port === "" ? "8500" : url.port}`;
}

interface Registration {
  readonly controller: AbortController;
  heartbeat: Promise<void>;
}

interface HealthAnswer {
  readonly index: number;
  readonly instances: readonly ServiceInstance[];
}

/** A {@link Registry} backed by a Consul agent (`scheme = "consul"`). */
export function createConsulRegistry(options: ConsulRegistryOptions): Registry {
  const address = options.address.replace(/\/+$/, "");
  const mode = options.check ?? "ttl";
  const ttlSeconds = positive(options.ttlSeconds ?? 10, "ttlSeconds");
  const waitSeconds = positive(options.blockingWaitSeconds ?? 30, "blockingWaitSeconds");
  const deregisterAfter = options.deregisterCriticalAfter ?? "1m";
  const startTimeoutMs = positive(options.startTimeoutMs ?? 5000, "startTimeoutMs");
  const requestTimeoutMs = positive(options.requestTimeoutMs ?? 5000, "requestTimeoutMs");
  const initialMs = positive(options.backoff?.initialMs ?? 200, "backoff.initialMs");
  const maxMs = positive(options.backoff?.maxMs ?? 10_000, "backoff.maxMs");
  const fetchFn = options.fetch ?? globalThis.fetch;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number, signal: AbortSignal) => sleepFor(ms, undefined, { signal }));
  const report = options.onError ?? (() => {});
  const registrations = new Map<string, Registration>();
  // Aborted by close(): stops heartbeats and ends every watch of this registry.
  const closed = new AbortController();

  const nap = async (ms: number, signal: AbortSignal): Promise<void> => {
    try {
      await sleep(ms, signal);
    } catch {
      // An aborted sleep is the normal way out; the callers check the signal.
    }
  };

  /**
   * One HTTP call, read by `read` under the same deadline; a non-2xx answer becomes a
   * ConsulError carrying Consul's text. The deadline is a ref'd timer, not
   * AbortSignal.timeout (unref'd), so it fires even when nothing else keeps Node alive.
   */
  const call = async <T>(
    method: string,
    path: string,
    init: { readonly body?: unknown; readonly signal?: AbortSignal; readonly timeoutMs: number },
    read: (response: Response) => Promise<T>,
  ): Promise<T> => {
    // One controller for both causes; linked by hand rather than AbortSignal.any so a
    // long-lived watch signal does not accumulate a composite per blocking request.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, Math.ceil(init.timeoutMs));
    const cancel = (): void => controller.abort();
    init.signal?.addEventListener("abort", cancel, { once: true });
    if (init.signal?.aborted === true) controller.abort();
    const headers: Record<string, string> = {};
    if (options.token !== undefined) headers["X-Consul-Token"] = options.token;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const response = await fetchFn(`${address}${path}`, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: controller.signal,
      });
      if (!response.ok) {
        const body = (await response.text()).trim();
        throw new ConsulError(`consul ${method} ${path.split("?")[0] ?? path} answered ${response.status}: ${body || response.statusText}`, response.status, body);
      }
      return await read(response);
    } catch (error) {
      if (error instanceof ConsulError || init.signal?.aborted === true) throw error;
      const why = timedOut ? `no answer within ${Math.ceil(init.timeoutMs)} ms` : describe(error);
      throw new ConsulError(`consul at ${address} is unreachable: ${why}`);
    } finally {
      clearTimeout(timer);
      init.signal?.removeEventListener("abort", cancel);
    }
  };
  // Drain the body so the keep-alive connection is reused.
  const put = (path: string, body?: unknown, signal?: AbortSignal): Promise<void> =>
    call("PUT", path, { body, signal, timeoutMs: requestTimeoutMs }, async (response) => {
      await response.arrayBuffer();
    });

  const checkId = (instance: ServiceInstance): string => `service:${instance.id}`;
  const putRegistration = (instance: ServiceInstance, signal?: AbortSignal): Promise<void> => {
    const check =
      mode === "ttl"
        ? { Name: "trellis ttl", TTL: `${ttlSeconds}s`, DeregisterCriticalServiceAfter: deregisterAfter }
        : {
            Name: "trellis grpc.health.v1",
            GRPC: `${instance.host}:${instance.port}${grpcServicePath(options.grpcHealthService ?? "")}`,
            GRPCUseTLS: false,
            Interval: options.grpcCheckInterval ?? "5s",
            DeregisterCriticalServiceAfter: deregisterAfter,
          };
    const body = { ID: instance.id, Name: instance.service, Address: instance.host, Port: instance.port, Meta: instance.metadata ?? {}, Check: check };
    return put("/v1/agent/service/register", body, signal);
  };
  const pass = (instance: ServiceInstance, signal?: AbortSignal): Promise<void> =>
    put(`/v1/agent/check/pass/${encodeURIComponent(checkId(instance))}`, undefined, signal);

  const heartbeat = async (instance: ServiceInstance, signal: AbortSignal): Promise<void> => {
    const everyMs = (ttlSeconds * 1000) / 3;
    while (!signal.aborted) {
      await nap(everyMs, signal);
      if (signal.aborted) return;
      try {
        await pass(instance, signal);
      } catch (error) {
        if (signal.aborted) return;
        report(error as Error);
        // 404: the agent forgot the check (it reaped us after a long pause, or restarted
        // without its data dir). Registering again is the only way back into the pool.
        if (error instanceof ConsulError && error.status === 404) {
          try {
            await putRegistration(instance, signal);
            await pass(instance, signal);
          } catch (again) {
            if (!signal.aborted) report(again as Error);
          }
        }
      }
    }
  };

  const stop = async (id: string): Promise<void> => {
    const registration = registrations.get(id);
    if (registration === undefined) return;
    registrations.delete(id);
    registration.controller.abort();
    // Wait for an in-flight heartbeat (which may re-register) before deregistering.
    await registration.heartbeat;
  };

  const queryHealth = async (service: string, index: number, signal: AbortSignal, timeoutMs: number): Promise<HealthAnswer> => {
    const blocking = index > 0 ? `&index=${index}&wait=${waitSeconds}s` : "";
    const path = `/v1/health/service/${encodeURIComponent(service)}?passing=true${blocking}`;
    const { index: answered, body, filtered } = await call("GET", path, { signal, timeoutMs }, async (response) => ({
      index: Number(response.headers.get("X-Consul-Index") ?? "0"),
      filtered: response.headers.get("X-Consul-Results-Filtered-By-ACLs") === "true",
      body: (await response.json()) as unknown,
    }));
    if (!Array.isArray(body)) throw new ConsulError(`consul GET /v1/health/service/${service} answered 200 with a non-array body`);
    const instances = body.map((entry) => toInstance(entry, service)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (instances.length === 0 && filtered) {
      // An empty pool here means "not allowed to see it", not "no instances": say so.
      throw new ConsulError(`consul filtered every instance of "${service}" out by ACLs: the token lacks service:read or node:read`, 403);
    }
    return { index: answered, instances };
  };

  async function* watch(service: string, signal: AbortSignal): AsyncGenerator<readonly ServiceInstance[]> {
    const stopped = AbortSignal.any([signal, closed.signal]);
    const startDeadline = now() + startTimeoutMs;
    let index = 0;
    let lastKey: string | undefined;
    let failures = 0;
    while (!stopped.aborted) {
      const starting = lastKey === undefined;
      const remaining = startDeadline - now();
      // A blocking query may legitimately take `wait` plus Consul's wait/16 jitter.
      const timeoutMs = starting ? Math.max(1, remaining) : index > 0 ? waitSeconds * 1000 * (17 / 16) + requestTimeoutMs : requestTimeoutMs;
      let answer: HealthAnswer;
      try {
        answer = await queryHealth(service, index, stopped, timeoutMs);
      } catch (error) {
        if (stopped.aborted) return;
        const failure = error as Error;
        if (starting) {
          // A client error (bad token, ACL) will not heal by retrying: surface it now.
          if (isPermanent(failure)) throw failure;
          if (startDeadline - now() <= 0) throw unreachable(address, failure);
        }
        report(failure);
        const waitMs = backoffDelay(failures++, initialMs, maxMs, random);
        await nap(starting ? Math.min(waitMs, Math.max(0, startDeadline - now())) : waitMs, stopped);
        continue;
      }
      failures = 0;
      // Blocking-query rules from Consul's docs: an index that goes backwards means the
      // state was reset (snapshot restore...), so restart from 0; an index below 1 would
      // turn the loop into a busy poll, so block on 1 instead.
      index = answer.index < index ? 0 : Math.max(1, Number.isFinite(answer.index) ? answer.index : 1);
      // A return is no guarantee of a change (timeout, idempotent write): yield only real changes.
      const key = JSON.stringify(answer.instances);
      if (key === lastKey) continue;
      lastKey = key;
      yield answer.instances;
    }
  }

  return {
    scheme: "consul",
    async register(instance) {
      if (closed.signal.aborted) throw new Error("consul registry is closed");
      await stop(instance.id);
      const registration: Registration = { controller: new AbortController(), heartbeat: Promise.resolve() };
      registrations.set(instance.id, registration);
      try {
        await putRegistration(instance);
        // A new TTL check starts critical; pass it now so the instance is served at once.
        if (mode === "ttl") await pass(instance);
      } catch (error) {
        if (registrations.get(instance.id) === registration) registrations.delete(instance.id);
        throw error;
      }
      if (mode === "ttl" && !registration.controller.signal.aborted) {
        registration.heartbeat = heartbeat(instance, registration.controller.signal);
      }
    },
    async deregister(instance) {
      await stop(instance.id);
      try {
        await put(`/v1/agent/service/deregister/${encodeURIComponent(instance.id)}`);
      } catch (error) {
        // Current Consul answers 404 "Unknown service ID" (older versions 200): already gone is fine.
        if (!(error instanceof ConsulError && error.status === 404)) throw error;
      }
    },
    watch: (service, signal) => watch(service, signal),
    async close() {
      if (closed.signal.aborted) return;
      closed.abort();
      const ids = [...registrations.keys()];
      await Promise.allSettled(
        ids.map(async (id) => {
          await stop(id);
          await put(`/v1/agent/service/deregister/${encodeURIComponent(id)}`);
        }),
      );
    },
  };
}

/** Capped exponential backoff with "equal jitter": never zero, and spread so watchers do not retry in lockstep. */
function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + (random() * ceiling) / 2;
}

function toInstance(entry: unknown, service: string): ServiceInstance {
  const record = (value: unknown): Record<string, unknown> => (typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {});
  const node = record(record(entry)["Node"]);
  const svc = record(record(entry)["Service"]);
  const id = svc["ID"];
  const port = svc["Port"];
  if (typeof id !== "string" || typeof port !== "number") {
    throw new ConsulError(`consul GET /v1/health/service/${service} answered an entry without Service.ID or Service.Port`);
  }
  // Consul leaves Service.Address empty when the service was registered without one: the node's address applies.
  const serviceAddress = typeof svc["Address"] === "string" ? svc["Address"] : "";
  const host = serviceAddress !== "" ? serviceAddress : typeof node["Address"] === "string" ? node["Address"] : "";
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(record(svc["Meta"]))) if (typeof value === "string") metadata[key] = value;
  return { id, service: typeof svc["Service"] === "string" ? svc["Service"] : service, host, port, metadata };
}

function grpcServicePath(service: string): string {
  return service === "" ? "" : `/${service}`;
}

function isPermanent(error: Error): boolean {
  const status = error instanceof ConsulError ? error.status : undefined;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function unreachable(address: string, error: Error): ConsulError {
  if (error instanceof ConsulError && error.status === undefined) return error; // already "… is unreachable: …"
  return new ConsulError(`consul at ${address} is unreachable: ${error.message}`, error instanceof ConsulError ? error.status : undefined);
}

/** fetch's own message is "fetch failed"; the useful part (ECONNREFUSED…) is in its cause. */
function describe(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4; depth += 1) {
    const cause = (current as { cause?: unknown } | null)?.cause;
    if (cause === undefined) break;
    current = cause;
  }
  if (current instanceof AggregateError && current.message === "") current = current.errors[0] ?? current;
  return current instanceof Error ? current.message || ("code" in current ? String(current.code) : current.name) : String(current);
}

function positive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0)) throw new Error(`consul registry: ${name} must be a positive number (got ${value})`);
  return value;
}
