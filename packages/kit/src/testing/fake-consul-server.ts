/**
 * An in-process stand-in for a Consul agent's HTTP API, so that `npm test` covers the
 * consul adapter with nothing installed, and for faults a real agent cannot be made to
 * produce on demand (bursts of 5xx, an index that goes backwards or to 0, an agent that
 * forgets a service behind the adapter's back, exact reap timing). Everything else is
 * tested against a real agent in `consul-registry.integration.ts`; where the two
 * disagreed, the fake was corrected to what Consul v1.22.2 does. It implements only the
 * endpoints the adapter uses:
 *
 * - `PUT /v1/agent/service/register` with one inline `Check` (TTL, or GRPC/HTTP/TCP
 *   plus Interval). The check id is `service:<service-id>`; a new check starts
 *   `critical` unless `Check.Status` says otherwise; re-registering keeps the
 *   check's status (Consul snapshots and restores check state).
 * - `PUT /v1/agent/service/deregister/:id` (unknown id: 404 "Unknown service ID").
 * - `PUT /v1/agent/check/pass/:check_id` (unknown: 404; not a TTL check: 500).
 * - `GET /v1/agent/service/:id` with hash-based blocking (`hash`, `wait`,
 *   `X-Consul-ContentHash`); unknown id: 404 "unknown service ID: <id>".
 * - `GET /v1/health/service/:service` with `passing`, and blocking `index`/`wait`:
 *   the answer is held until the modify index passes `index` or `wait` expires,
 *   then carries `X-Consul-Index`.
 * - ACLs: with `token` set, a wrong `X-Consul-Token` gets 403 "ACL not found"; no
 *   token means the anonymous token, which may not write (403 "Permission
 *   denied") and whose reads come back filtered (200, `[]`) — without the
 *   `X-Consul-Results-Filtered-By-ACLs` header, which Consul hides from the
 *   anonymous token; every answer carries `X-Consul-Default-ACL-Policy`.
 *
 * Simplifications, on purpose: one node, one global modify index (real Consul
 * answers health queries with a per-service index), no `wait/16` jitter, and
 * critical services are reaped exactly at `DeregisterCriticalServiceAfter`
 * (Consul enforces a 1 minute minimum and reaps every 30 s). The GRPC/HTTP/TCP
 * checks are not probed: tests drive them with `setCheckStatus`.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A check status as Consul spells it. */
export type FakeCheckStatus = "passing" | "warning" | "critical";

/** Options of {@link startFakeConsul}. */
export interface FakeConsulOptions {
  /** When set, ACLs are on with default-deny and this is the only valid token with write and read. @default undefined (ACLs off) */
  readonly token?: string;
  /** With ACLs on: valid tokens that may write but whose reads come back filtered (with the header). @default [] */
  readonly tokensWithoutRead?: readonly string[];
}

/** One registered service instance, as the fake sees it. */
export interface FakeConsulService {
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly meta: Readonly<Record<string, string>>;
  /** `service:<id>`, or undefined when registered without a check. */
  readonly checkId: string | undefined;
  readonly status: FakeCheckStatus;
  /** TTL passes received since the last registration. */
  readonly passes: number;
  /** The JSON body of the last registration, as sent. */
  readonly definition: Readonly<Record<string, unknown>>;
}

/** One request the fake received, in arrival order. */
export interface FakeConsulRequest {
  readonly method: string;
  /** Decoded path, without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** The `X-Consul-Token` header, if any. */
  readonly token: string | undefined;
}

/** A running fake agent. */
export interface FakeConsul {
  /** `http://127.0.0.1:<port>`. */
  readonly address: string;
  services(): readonly FakeConsulService[];
  /** The next `count` requests whose path starts with `pathPrefix` answer `status` ("No cluster leader"). */
  failNext(count: number, status?: number, pathPrefix?: string): void;
  /** Sets a check's status, as a probe (or an operator) would. Throws on an unknown check id. */
  setCheckStatus(checkId: string, status: FakeCheckStatus): void;
  /** Moves the modify index (e.g. below the current one, as a snapshot restore does) and wakes blocked queries. */
  resetIndex(index: number): void;
  /**
   * What a `consul agent -dev` restart looks like to clients: open connections drop,
   * every service is forgotten, and the index starts again at `index` (below the old one).
   */
  restart(index?: number): void;
  /** The current modify index. */
  index(): number;
  requests(): readonly FakeConsulRequest[];
  /** Health queries currently held by a blocking wait. */
  parked(): number;
  /** Requests received and not yet answered or abandoned. */
  inflight(): number;
  /** Resolves once `condition()` holds; re-checked after every event in the fake. */
  waitFor(condition: () => boolean): Promise<void>;
  close(): Promise<void>;
}

interface Check {
  readonly id: string;
  readonly ttlMs: number | undefined;
  readonly deregisterAfterMs: number | undefined;
  status: FakeCheckStatus;
  ttlTimer?: NodeJS.Timeout;
  reapTimer?: NodeJS.Timeout;
}

interface Entry {
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly meta: Record<string, string>;
  readonly check: Check | undefined;
  readonly definition: Record<string, unknown>;
  passes: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const NODE = { ID: "8e3f2a10-0000-4000-8000-000000000001", Node: "fake-node", Address: "127.0.0.1", Datacenter: "dc1" };

/** Starts the fake on an ephemeral loopback port. */
export async function startFakeConsul(options: FakeConsulOptions = {}): Promise<FakeConsul> {
  // Consul's indexes never start at 0 on a live cluster; start somewhere realistic.
  let index = 10;
  const entries = new Map<string, Entry>();
  // Each parked health query; `force` wakes it even if the index did not pass its own.
  const wakeParked = new Set<(force: boolean) => void>();
  const observers = new Set<() => void>();
  const failures: { remaining: number; status: number; prefix: string }[] = [];
  const log: FakeConsulRequest[] = [];
  let inflight = 0;

  const notify = (): void => {
    for (const observer of [...observers]) observer();
  };
  const bump = (): void => {
    index += 1;
    for (const wake of [...wakeParked]) wake(false);
    notify();
  };

  // Consul reaps a service whose check stayed critical for DeregisterCriticalServiceAfter.
  const syncReap = (entry: Entry, check: Check): void => {
    if (check.status !== "critical") {
      clearTimeout(check.reapTimer);
      check.reapTimer = undefined;
    } else if (check.deregisterAfterMs !== undefined && check.reapTimer === undefined) {
      check.reapTimer = setTimeout(() => removeEntry(entry.id), check.deregisterAfterMs);
    }
  };
  const setStatus = (entry: Entry, check: Check, status: FakeCheckStatus): void => {
    const changed = check.status !== status;
    check.status = status;
    syncReap(entry, check);
    if (changed) bump();
  };
  const armTtl = (entry: Entry, check: Check): void => {
    if (check.ttlMs === undefined) return;
    clearTimeout(check.ttlTimer);
    check.ttlTimer = setTimeout(() => setStatus(entry, check, "critical"), check.ttlMs);
  };
  const stopTimers = (entry: Entry): void => {
    clearTimeout(entry.check?.ttlTimer);
    clearTimeout(entry.check?.reapTimer);
  };
  const removeEntry = (id: string): boolean => {
    const entry = entries.get(id);
    if (entry === undefined) return false;
    stopTimers(entry);
    entries.delete(id);
    bump();
    return true;
  };

  const register = (body: unknown): void => {
    if (!isRecord(body)) throw new HttpError(400, "Request decode failed: body is not a JSON object");
    const name = body["Name"];
    if (typeof name !== "string" || name === "") throw new HttpError(400, "Missing service name");
    const id = typeof body["ID"] === "string" && body["ID"] !== "" ? body["ID"] : name;
    const port = body["Port"] ?? 0;
    if (typeof port !== "number" || !Number.isInteger(port)) throw new HttpError(400, "Request decode failed: Port must be an integer");
    const meta = parseMeta(body["Meta"]);
    const previous = entries.get(id);
    const check = parseCheck(body["Check"], id, previous?.check);
    const entry: Entry = {
      id,
      name,
      address: typeof body["Address"] === "string" ? body["Address"] : "",
      port,
      meta,
      check,
      definition: body,
      passes: 0,
    };
    if (previous !== undefined) stopTimers(previous);
    entries.set(id, entry);
    if (check !== undefined) {
      armTtl(entry, check);
      syncReap(entry, check);
    }
    // An identical re-registration changes nothing in the catalog, so it does not move the index.
    if (previous === undefined || !sameEntry(previous, entry)) bump();
  };

  const pass = (checkId: string): void => {
    for (const entry of entries.values()) {
      if (entry.check?.id !== checkId) continue;
      if (entry.check.ttlMs === undefined) throw new HttpError(500, `CheckID "${checkId}" does not have associated TTL`);
      entry.passes += 1;
      armTtl(entry, entry.check);
      setStatus(entry, entry.check, "passing");
      notify();
      return;
    }
    throw new HttpError(404, `Unknown check ID "${checkId}". Ensure that the check ID is passed, not the check name.`);
  };

  const healthBody = (name: string, passingOnly: boolean): unknown[] =>
    [...entries.values()]
      .filter((entry) => entry.name === name && (!passingOnly || (entry.check?.status ?? "passing") === "passing"))
      .map((entry) => ({
        Node: { ...NODE, TaggedAddresses: { lan: NODE.Address, wan: NODE.Address }, Meta: {} },
        Service: {
          ID: entry.id,
          Service: entry.name,
          Tags: [],
          Address: entry.address,
          Meta: entry.meta,
          Port: entry.port,
          Weights: { Passing: 1, Warning: 1 },
        },
        Checks: [
          { Node: NODE.Node, CheckID: "serfHealth", Name: "Serf Health Status", Status: "passing", ServiceID: "", ServiceName: "" },
          ...(entry.check === undefined
            ? []
            : [
                {
                  Node: NODE.Node,
                  CheckID: entry.check.id,
                  Name: `Service '${entry.name}' check`,
                  Status: entry.check.status,
                  ServiceID: entry.id,
                  ServiceName: entry.name,
                },
              ]),
        ],
      }));

  type Reader = "anonymous" | "filtered" | "allowed";
  const health = (request: IncomingMessage, response: ServerResponse, name: string, query: URLSearchParams, reader: Reader): void => {
    const passingOnly = query.has("passing") && !["false", "0"].includes(query.get("passing") ?? "");
    const minIndex = Number(query.get("index") ?? "0");
    const waitMs = Math.min(parseDuration(query.get("wait") ?? "5m", "wait"), 10 * 60_000);
    const answer = (): void => {
      const all = healthBody(name, passingOnly);
      const body = reader === "allowed" ? all : [];
      response.setHeader("X-Consul-Index", String(index));
      response.setHeader("X-Consul-KnownLeader", "true");
      response.setHeader("X-Consul-LastContact", "0");
      // Consul masks the flag for the anonymous token, so as not to leak that something exists.
      if (body.length < all.length && reader === "filtered") response.setHeader("X-Consul-Results-Filtered-By-ACLs", "true");
      send(response, 200, JSON.stringify(body), "application/json");
    };
    if (!(minIndex > 0 && minIndex >= index)) return answer();
    const release = (): void => {
      clearTimeout(timer);
      wakeParked.delete(wake);
      request.off("close", abandon);
      notify();
    };
    const wake = (force: boolean): void => {
      if (index <= minIndex && !force) return; // a change, but not past the client's index: keep waiting
      release();
      answer();
    };
    const abandon = (): void => release();
    const timer = setTimeout(() => {
      release();
      answer();
    }, waitMs);
    wakeParked.add(wake);
    request.once("close", abandon);
    notify();
  };

  // Hash-based blocking as on GET /v1/agent/service/:id: held until the service's content
  // hash differs from `hash` (or it is gone), or `wait` expires.
  const agentService = (request: IncomingMessage, response: ServerResponse, id: string, query: URLSearchParams): void => {
    const hashOf = (entry: Entry | undefined): string | undefined =>
      entry === undefined
        ? undefined
        : createHash("sha256")
            .update(JSON.stringify([entry.name, entry.address, entry.port, entry.meta]))
            .digest("hex")
            .slice(0, 16);
    const answer = (): void => {
      const entry = entries.get(id);
      const hash = hashOf(entry);
      if (entry === undefined || hash === undefined) return send(response, 404, `unknown service ID: ${id}`);
      response.setHeader("X-Consul-ContentHash", hash);
      const body = { ID: entry.id, Service: entry.name, Address: entry.address, Port: entry.port, Meta: entry.meta, ContentHash: hash };
      send(response, 200, JSON.stringify(body), "application/json");
    };
    const wanted = query.get("hash") ?? "";
    if (wanted === "" || hashOf(entries.get(id)) !== wanted) return answer();
    const waitMs = Math.min(parseDuration(query.get("wait") ?? "5m", "wait"), 10 * 60_000);
    const release = (): void => {
      clearTimeout(timer);
      observers.delete(changed);
      request.off("close", release);
    };
    const changed = (): void => {
      if (hashOf(entries.get(id)) === wanted) return;
      release();
      answer();
    };
    const timer = setTimeout(() => {
      release();
      answer();
    }, waitMs);
    observers.add(changed);
    request.once("close", release);
  };

  const route = async (request: IncomingMessage, response: ServerResponse, url: URL, path: string): Promise<void> => {
    const token = header(request, "x-consul-token");
    const aclOn = options.token !== undefined;
    response.setHeader("X-Consul-Default-ACL-Policy", aclOn ? "deny" : "allow");
    const anonymous = aclOn && token === undefined;
    const readOnlyFiltered = token !== undefined && (options.tokensWithoutRead ?? []).includes(token);
    if (aclOn && token !== undefined && token !== options.token && !readOnlyFiltered) throw new HttpError(403, "ACL not found");
    const write = (permission: string, on: string): void => {
      if (anonymous) {
        throw new HttpError(
          403,
          `Permission denied: anonymous token lacks permission '${permission}' on "${on}". The anonymous token is used implicitly when a request does not specify a token.`,
        );
      }
    };
    const method = (allowed: string): void => {
      if (request.method !== allowed) throw new HttpError(405, `method ${request.method ?? ""} not allowed`);
    };
    if (path === "/v1/agent/service/register") {
      method("PUT");
      const body = await readJson(request);
      write("service:write", isRecord(body) && typeof body["Name"] === "string" ? body["Name"] : "");
      register(body);
      return send(response, 200, "");
    }
    if (path.startsWith("/v1/agent/service/deregister/")) {
      method("PUT");
      const id = path.slice("/v1/agent/service/deregister/".length);
      write("service:write", entries.get(id)?.name ?? id);
      if (!removeEntry(id))
        throw new HttpError(404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
      return send(response, 200, "");
    }
    if (path.startsWith("/v1/agent/check/pass/")) {
      method("PUT");
      const checkId = path.slice("/v1/agent/check/pass/".length);
      write("service:write", checkId);
      pass(checkId);
      return send(response, 200, "");
    }
    if (path.startsWith("/v1/health/service/")) {
      method("GET");
      return health(
        request,
        response,
        path.slice("/v1/health/service/".length),
        url.searchParams,
        anonymous ? "anonymous" : readOnlyFiltered ? "filtered" : "allowed",
      );
    }
    if (path.startsWith("/v1/agent/service/")) {
      method("GET");
      write("service:read", path.slice("/v1/agent/service/".length));
      return agentService(request, response, path.slice("/v1/agent/service/".length), url.searchParams);
    }
    throw new HttpError(404, `fake consul does not implement ${request.method ?? ""} ${path}`);
  };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://fake-consul");
    const path = decodeURIComponent(url.pathname);
    log.push({ method: request.method ?? "", path, query: url.searchParams, token: header(request, "x-consul-token") });
    inflight += 1;
    response.once("close", () => {
      inflight -= 1;
      notify();
    });
    notify();
    const failure = failures.find((rule) => rule.remaining > 0 && path.startsWith(rule.prefix));
    if (failure !== undefined) {
      failure.remaining -= 1;
      request.resume();
      return send(response, failure.status, "rpc error making call: No cluster leader");
    }
    route(request, response, url, path).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      send(response, status, error instanceof Error ? error.message : String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    address: `http://127.0.0.1:${port}`,
    services: () =>
      [...entries.values()].map((entry) => ({
        id: entry.id,
        name: entry.name,
        address: entry.address,
        port: entry.port,
        meta: { ...entry.meta },
        checkId: entry.check?.id,
        status: entry.check?.status ?? "passing",
        passes: entry.passes,
        definition: entry.definition,
      })),
    failNext: (count, status = 500, pathPrefix = "/") => {
      failures.push({ remaining: count, status, prefix: pathPrefix });
    },
    setCheckStatus: (checkId, status) => {
      const entry = [...entries.values()].find((candidate) => candidate.check?.id === checkId);
      if (entry?.check === undefined) throw new Error(`fake consul has no check ${checkId}`);
      setStatus(entry, entry.check, status);
    },
    restart: (next = 1) => {
      for (const entry of entries.values()) stopTimers(entry);
      entries.clear();
      index = next;
      server.closeAllConnections();
      notify();
    },
    resetIndex: (next) => {
      index = next;
      // A restore abandons the state store: every blocked query returns at once.
      for (const wake of [...wakeParked]) wake(true);
      notify();
    },
    index: () => index,
    requests: () => [...log],
    parked: () => wakeParked.size,
    inflight: () => inflight,
    waitFor: (condition) =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (!condition()) return;
          observers.delete(check);
          resolve();
        };
        observers.add(check);
        check();
      }),
    close: async () => {
      for (const entry of entries.values()) stopTimers(entry);
      for (const wake of [...wakeParked]) wake(true);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parseCheck(value: unknown, serviceId: string, previous: Check | undefined): Check | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw new HttpError(400, "Request decode failed: Check is not an object");
  const id = typeof value["CheckID"] === "string" && value["CheckID"] !== "" ? value["CheckID"] : `service:${serviceId}`;
  const ttl = value["TTL"];
  const probed = ["GRPC", "HTTP", "TCP"].some((key) => typeof value[key] === "string" && value[key] !== "");
  if (typeof ttl !== "string" && !(probed && typeof value["Interval"] === "string")) {
    throw new HttpError(400, "Invalid check: TTL must be > 0 for TTL checks, or Interval must be > 0 for GRPC/HTTP/TCP checks");
  }
  const after = value["DeregisterCriticalServiceAfter"];
  const initial = value["Status"];
  const status: FakeCheckStatus =
    previous?.id === id ? previous.status : initial === "passing" || initial === "warning" ? initial : "critical";
  return {
    id,
    ttlMs: typeof ttl === "string" ? parseDuration(ttl, "TTL") : undefined,
    deregisterAfterMs: typeof after === "string" ? parseDuration(after, "DeregisterCriticalServiceAfter") : undefined,
    status,
  };
}

function parseMeta(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new HttpError(400, "Request decode failed: Meta is not an object");
  const meta: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (!/^[A-Za-z0-9_-]+$/.test(key)) throw new HttpError(400, "Invalid Service Meta: Key contains invalid characters");
    if (typeof item !== "string") throw new HttpError(400, "Request decode failed: Meta values must be strings");
    meta[key] = item;
  }
  return meta;
}

/** Go's time.ParseDuration for the units Consul configs use. */
function parseDuration(text: string, field: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join("") !== text) {
    throw new HttpError(400, `Request decode failed: ${field}: time: invalid duration "${text}"`);
  }
  return parts.reduce((total, part) => total + Number(part[1]) * (units[part[2] ?? ""] ?? 0), 0);
}

function sameEntry(a: Entry, b: Entry): boolean {
  const plain = (entry: Entry): string =>
    JSON.stringify([
      entry.name,
      entry.address,
      entry.port,
      entry.meta,
      entry.check?.id,
      entry.check?.ttlMs,
      entry.check?.deregisterAfterMs,
    ]);
  return plain(a) === plain(b);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch (error) {
    throw new HttpError(400, `Request decode failed: ${(error as Error).message}`);
  }
}

function send(response: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
  response.end(body);
}
