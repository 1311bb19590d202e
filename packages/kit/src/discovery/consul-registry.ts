/**
 * Consul adapter for the discovery contracts, over the agent's HTTP API
 * (`consul-http.ts`: Node's global `fetch`, no client library).
 *
 * - Registration: `PUT /v1/agent/service/register` with one check. By default a gRPC
 *   check: the agent itself calls the instance's grpc.health.v1 `Check`, so an instance
 *   whose health turns NOT_SERVING (or that stops answering) leaves `?passing`. The
 *   fallback is a TTL check this process passes every ttl/3. Either way a keeper per
 *   instance re-registers it when the agent forgot it (restarted without its state, or
 *   reaped it after a long pause).
 * - Discovery: blocking queries on `/v1/health/service/<name>?passing` with
 *   `X-Consul-Index`, yielding each changed set.
 *
 * Tested against Consul v1.22.2 (`consul-registry.integration.ts`, a real `consul agent
 * -dev`: registration, gRPC and TTL checks, NOT_SERVING and flapping instances, agent
 * restart, ACLs with default deny) and, in `npm test`, against `fake-consul-server.ts` for
 * what a real agent cannot be made to do on demand (5xx bursts, index resets, answers
 * that never come).
 */
import { setTimeout as sleepFor } from "node:timers/promises";
import { ConsulError, createConsulHttp, isPermanent, isUnknownToAgent } from "./consul-http.js";
import type { Registry, ServiceInstance } from "./registry.js";
import { backoffDelay, checkedBackoff, type BackoffOptions } from "../resilience/backoff.js";

export { ConsulError } from "./consul-http.js";

/** Options of {@link createConsulRegistry}. */
export interface ConsulRegistryOptions {
  /** The agent's HTTP API, e.g. `http://127.0.0.1:8500` ({@link parseConsulUrl} turns `consul://` into this). */
  readonly address: string;
  /** ACL token, sent as `X-Consul-Token` on every request; the caller reads `CONSUL_HTTP_TOKEN`. @default undefined (no header) */
  readonly token?: string;
  /** Where the token comes from, named in ACL errors. @default "CONSUL_HTTP_TOKEN" */
  readonly tokenName?: string;
  /**
   * Who decides health: `grpc` — the agent probes the instance's grpc.health.v1 every
   * `grpcCheckInterval`; `ttl` — this process passes a TTL check every ttl/3 (for agents
   * that cannot reach the instance's address).
   * @default "grpc"
   */
  readonly check?: "grpc" | "ttl";
  /** TTL of the check in `ttl` mode. @default 10 */
  readonly ttlSeconds?: number;
  /** Consul deregisters an instance whose check stayed critical this long (Go duration; Consul's minimum is 1m). @default "1m" */
  readonly deregisterCriticalAfter?: string;
  /** How long one blocking query may wait for a change. @default 30 */
  readonly blockingWaitSeconds?: number;
  /** Probe interval in `grpc` mode (Go duration; Consul's minimum is 1s). @default "5s" */
  readonly grpcCheckInterval?: string;
  /**
   * The grpc.health.v1 service name Consul asks about in `grpc` mode. The Trellis
   * server reports "" (the whole server) and full proto service names, not the
   * logical name, so "" is the safe default.
   * @default ""
   */
  readonly grpcHealthService?: string;
  /**
   * `register` and `watch` retry an unreachable or failing agent for this long after they
   * start, then fail with the last error (a watch never yields an empty set it did not get
   * from the agent).
   * @default 5000
   */
  readonly startTimeoutMs?: number;
  /** Deadline of each non-blocking request (register, deregister, heartbeat). @default 5000 */
  readonly requestTimeoutMs?: number;
  /** Retry delays: exponential from `initialMs`, capped at `maxMs`, with equal jitter (never near zero). @default { initialMs: 200, maxMs: 10000, jitter: "equal" } */
  readonly backoff?: BackoffOptions;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Jitter source, in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Clock for the start deadline. @default Date.now */
  readonly now?: () => number;
  /** Resolves after `ms`, or early (resolving or rejecting) once `signal` aborts. @default node:timers/promises setTimeout */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Errors handled inside the registry: failed heartbeats, re-registrations, retried requests. @default ignored */
  readonly onError?: (error: Error) => void;
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
  keeper: Promise<void>;
}

interface HealthAnswer {
  readonly index: number;
  readonly instances: readonly ServiceInstance[];
}

/** A {@link Registry} backed by a Consul agent (`scheme = "consul"`). */
export function createConsulRegistry(options: ConsulRegistryOptions): Registry {
  const http = createConsulHttp(options);
  const address = http.address;
  const mode = options.check ?? "grpc";
  const ttlSeconds = positive(options.ttlSeconds ?? 10, "ttlSeconds");
  const waitSeconds = positive(options.blockingWaitSeconds ?? 30, "blockingWaitSeconds");
  const deregisterAfter = options.deregisterCriticalAfter ?? "1m";
  const startTimeoutMs = positive(options.startTimeoutMs ?? 5000, "startTimeoutMs");
  const requestTimeoutMs = positive(options.requestTimeoutMs ?? 5000, "requestTimeoutMs");
  const retry = checkedBackoff(options.backoff, { initialMs: 200, maxMs: 10_000, jitter: "equal" });
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number, signal: AbortSignal) => sleepFor(ms, undefined, { signal }));
  const report = options.onError ?? (() => {});
  const registrations = new Map<string, Registration>();
  // Aborted by close(): stops keepers and ends every watch of this registry.
  const closed = new AbortController();
  // A blocking query may legitimately take `wait` plus Consul's wait/16 jitter.
  const blockingTimeoutMs = waitSeconds * 1000 * (17 / 16) + requestTimeoutMs;
  // Counted from 0 here (the first failure), from 1 in backoffDelay.
  const backoff = (attempt: number): number => backoffDelay(attempt + 1, retry, random);

  const nap = async (ms: number, signal: AbortSignal): Promise<void> => {
    try {
      await sleep(ms, signal);
    } catch {
      // An aborted sleep is the normal way out; the callers check the signal.
    }
  };

  // Drain the body so the keep-alive connection is reused.
  const put = (path: string, body?: unknown, signal?: AbortSignal): Promise<void> =>
    http.request("PUT", path, { body, signal, timeoutMs: requestTimeoutMs }, async (response) => {
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
            // Registration happens once the server is SERVING. Without this, the check would
            // start critical and the agent's first probe comes after a random 0..Interval
            // stagger, so a new instance would take up to an interval to receive calls. A
            // re-registration keeps the status the agent already has.
            Status: "passing",
            DeregisterCriticalServiceAfter: deregisterAfter,
          };
    const body = {
      ID: instance.id,
      Name: instance.service,
      Address: instance.host,
      Port: instance.port,
      Meta: instance.metadata ?? {},
      Check: check,
    };
    return put("/v1/agent/service/register", body, signal);
  };
  const pass = (instance: ServiceInstance, signal?: AbortSignal): Promise<void> =>
    put(`/v1/agent/check/pass/${encodeURIComponent(checkId(instance))}`, undefined, signal);
  // A new TTL check starts critical (and a re-registered one keeps its status): pass it so
  // the instance is served at once.
  const announce = async (instance: ServiceInstance, signal?: AbortSignal): Promise<void> => {
    await putRegistration(instance, signal);
    if (mode === "ttl") await pass(instance, signal);
  };

  /** Re-registers after the agent answered 404 for this instance; false when that failed too. */
  const restore = async (instance: ServiceInstance, signal: AbortSignal): Promise<boolean> => {
    try {
      await announce(instance, signal);
      return true;
    } catch (error) {
      if (!signal.aborted) report(error as Error);
      return false;
    }
  };

  // TTL mode: pass every ttl/3; after a failure, retry sooner (with backoff) so a restarted
  // agent gets the instance back well within one TTL.
  const heartbeat = async (instance: ServiceInstance, signal: AbortSignal): Promise<void> => {
    const everyMs = (ttlSeconds * 1000) / 3;
    let failures = 0;
    while (!signal.aborted) {
      await nap(failures === 0 ? everyMs : Math.min(everyMs, backoff(failures - 1)), signal);
      if (signal.aborted) return;
      try {
        await pass(instance, signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        report(error as Error);
        failures = isUnknownToAgent(error) && (await restore(instance, signal)) ? 0 : failures + 1;
      }
    }
  };

  // gRPC mode has no heartbeat to notice that the agent forgot the instance, so it follows
  // its own registration with a hash-based blocking query on /v1/agent/service/<id>: an
  // agent that restarts drops the connection, and the next answer is a 404.
  const guard = async (instance: ServiceInstance, signal: AbortSignal): Promise<void> => {
    const path = `/v1/agent/service/${encodeURIComponent(instance.id)}`;
    let hash = "";
    let failures = 0;
    while (!signal.aborted) {
      try {
        const query = hash === "" ? "" : `?hash=${encodeURIComponent(hash)}&wait=${waitSeconds}s`;
        const timeoutMs = hash === "" ? requestTimeoutMs : blockingTimeoutMs;
        const answered = await http.request("GET", `${path}${query}`, { signal, timeoutMs }, async (response) => {
          await response.arrayBuffer();
          return response.headers.get("X-Consul-ContentHash") ?? "";
        });
        failures = 0;
        // Without a content hash the query cannot block: poll instead of spinning.
        if (answered === "") await nap(requestTimeoutMs, signal);
        hash = answered;
      } catch (error) {
        if (signal.aborted) return;
        report(error as Error);
        hash = "";
        if (isUnknownToAgent(error) && (await restore(instance, signal))) {
          failures = 0;
          continue;
        }
        await nap(backoff(failures++), signal);
      }
    }
  };

  const stop = async (id: string): Promise<void> => {
    const registration = registrations.get(id);
    if (registration === undefined) return;
    registrations.delete(id);
    registration.controller.abort();
    // Wait for an in-flight keeper request (which may re-register) before deregistering.
    await registration.keeper;
  };

  /** Runs `attempt` until it succeeds, retrying transient failures until the start deadline. */
  const retryAtStart = async (attempt: () => Promise<void>, signal: AbortSignal): Promise<void> => {
    const deadline = now() + startTimeoutMs;
    for (let failures = 0; ; failures += 1) {
      try {
        await attempt();
        return;
      } catch (error) {
        if (signal.aborted || isPermanent(error)) throw error;
        const remaining = deadline - now();
        if (remaining <= 0) throw unreachable(address, error as Error);
        report(error as Error);
        await nap(Math.min(backoff(failures), remaining), signal);
        if (signal.aborted) throw error;
      }
    }
  };

  const queryHealth = async (
    service: string,
    index: number,
    signal: AbortSignal,
    timeoutMs: number,
    first: boolean,
  ): Promise<HealthAnswer> => {
    const blocking = index > 0 ? `&index=${index}&wait=${waitSeconds}s` : "";
    const path = `/v1/health/service/${encodeURIComponent(service)}?passing=true${blocking}`;
    const {
      index: answered,
      body,
      filtered,
      denyByDefault,
    } = await http.request("GET", path, { signal, timeoutMs }, async (response) => ({
      index: Number(response.headers.get("X-Consul-Index") ?? "0"),
      filtered: response.headers.get("X-Consul-Results-Filtered-By-ACLs") === "true",
      denyByDefault: response.headers.get("X-Consul-Default-ACL-Policy") === "deny",
      body: (await response.json()) as unknown,
    }));
    if (!Array.isArray(body)) throw new ConsulError(`consul GET /v1/health/service/${service} answered 200 with a non-array body`);
    const instances = body.map((entry) => toInstance(entry, service)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (instances.length === 0 && filtered) {
      // An empty pool here means "not allowed to see it", not "no instances": say so.
      throw new ConsulError(
        `consul filtered every instance of "${service}" out by ACLs: the token in ${http.tokenName} lacks service:read on "${service}" or node:read`,
        403,
      );
    }
    if (instances.length === 0 && first && !http.hasToken && denyByDefault) {
      // Consul hides the "filtered" flag from the anonymous token, so with ACLs on and
      // default deny an empty first answer most likely means "not allowed", not "none".
      throw new ConsulError(
        `consul answered no instances of "${service}" to the anonymous token under ACL default policy deny: ${http.tokenName} is not set; set it to a token with service:read and node:read`,
        403,
      );
    }
    return { index: answered, instances };
  };

  async function* watch(service: string, signal: AbortSignal): AsyncGenerator<readonly ServiceInstance[]> {
    const stopped = AbortSignal.any([signal, closed.signal]);
    const startDeadline = now() + startTimeoutMs;
    let index = 0;
    let lastKey: string | undefined;
    let failures = 0;
    let previous: Error | undefined;
    while (!stopped.aborted) {
      const starting = lastKey === undefined;
      const remaining = startDeadline - now();
      const timeoutMs = starting ? Math.max(1, remaining) : index > 0 ? blockingTimeoutMs : requestTimeoutMs;
      let answer: HealthAnswer;
      try {
        answer = await queryHealth(service, index, stopped, timeoutMs, starting);
      } catch (error) {
        if (stopped.aborted) return;
        const failure = error as Error;
        if (starting) {
          // A client error (bad token, ACL) will not heal by retrying: surface it now.
          if (isPermanent(failure)) throw failure;
          // An attempt cut short by the end of the start budget says less ("no answer within
          // 3 ms") than the failure before it (ECONNREFUSED): report that one.
          const cut = timeoutMs < requestTimeoutMs;
          if (startDeadline - now() <= 0) throw unreachable(address, cut && previous !== undefined ? previous : failure);
          previous = failure;
        }
        report(failure);
        // Start over with a non-blocking read: an agent that restarted without its state
        // counts from a lower index, and a blocking query on ours would hang until `wait`.
        index = 0;
        const waitMs = backoff(failures++);
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
      const registration: Registration = { controller: new AbortController(), keeper: Promise.resolve() };
      const { signal } = registration.controller;
      registrations.set(instance.id, registration);
      try {
        await retryAtStart(() => announce(instance, signal), signal);
      } catch (error) {
        if (registrations.get(instance.id) === registration) registrations.delete(instance.id);
        throw error;
      }
      if (!signal.aborted) registration.keeper = mode === "ttl" ? heartbeat(instance, signal) : guard(instance, signal);
    },
    async deregister(instance) {
      await stop(instance.id);
      try {
        await put(`/v1/agent/service/deregister/${encodeURIComponent(instance.id)}`);
      } catch (error) {
        // Current Consul answers 404 "Unknown service ID" (older versions 200): already gone is fine.
        if (!isUnknownToAgent(error)) throw error;
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

function toInstance(entry: unknown, service: string): ServiceInstance {
  const record = (value: unknown): Record<string, unknown> =>
    typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
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

function unreachable(address: string, error: Error): ConsulError {
  if (error instanceof ConsulError && error.status === undefined) return error; // already "… is unreachable: …"
  return new ConsulError(`consul at ${address} is unreachable: ${error.message}`, error instanceof ConsulError ? error.status : undefined);
}

function positive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0)) throw new Error(`consul registry: ${name} must be a positive number (got ${value})`);
  return value;
}
