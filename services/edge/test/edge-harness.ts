import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { closeClient, createClient, createLogger, resourceInfo, type ServiceImpl } from "@trellis/kit";
import { Code, RpcError } from "@trellis/kit/errors";
import { startTestServer, type TestServer } from "@trellis/kit/testing";
import { ChangeType, UserSchema, UserService, type User } from "@trellis/api/trellis/user/v1/user_pb.js";
import { Registry } from "prom-client";
import { captureContext } from "../internal/backends.js";
import { createEdge, type Edge, type EdgeOptions } from "../internal/create-edge.js";
import { DEFAULT_CSP } from "../internal/edge-config.js";

/** A user id the fake answers NOT_FOUND for. */
export const MISSING_ID = "00000000-0000-4000-8000-000000000000";
/** A user id whose GetUser never answers (until its deadline or cancellation). */
export const HANGING_ID = "11111111-1111-4111-8111-111111111111";

/** What the fake backend saw. */
export interface BackendProbe {
  /** Response streams whose call ended because the client (the edge) cancelled it. */
  cancelledStreams: number;
  /** GetUser calls cancelled or past their deadline while hanging. */
  cancelledUnary: number;
  /** Messages the flood stream produced so far. */
  produced: number;
  /** The request headers of the last call. */
  lastHeaders: Headers | undefined;
}

/** An edge in this process in front of a fake UserService on a kit test server. */
export interface EdgeUnderTest {
  readonly url: string;
  readonly port: number;
  readonly backend: TestServer;
  readonly probe: BackendProbe;
  readonly edge: Edge;
  readonly metrics: Registry;
  /** Calls in progress through the edge (its call gate). */
  edgeCalls(): number;
  /** Response streams open through the edge. */
  edgeStreams(): number;
  /** Calls the fake backend is serving right now (the kit server's in-flight count). */
  backendCalls(): number;
  close(): Promise<void>;
}

function user(id: string, displayName = "Ada"): User {
  return create(UserSchema, { id, email: `${id.slice(0, 8)}@example.com`, displayName, etag: "v1", createTime: timestampNow() });
}

/** Waits until `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

/**
 * The fake: GetUser answers a user, NOT_FOUND (with ResourceInfo) for
 * MISSING_ID, or hangs for HANGING_ID; CreateUser is checked by the kit's
 * validation (BadRequest); ListUsers answers page_size users; WatchUsers
 * sends a 3-user snapshot and SNAPSHOT_END and then waits (resume_token
 * "flood": 16 KiB messages as fast as the client takes them; "fail": one
 * message then FAILED_PRECONDITION).
 */
export function fakeUserService(probe: BackendProbe): ServiceImpl<typeof UserService> {
  return {
    async getUser(request, context) {
      probe.lastHeaders = context.requestHeader;
      if (request.id === MISSING_ID)
        throw new RpcError(Code.NOT_FOUND, `user ${request.id} not found`, { details: [resourceInfo("trellis.user.v1.User", request.id)] });
      if (request.id === HANGING_ID) {
        await aborted(context.signal);
        probe.cancelledUnary++;
        throw new RpcError(Code.CANCELLED, "cancelled");
      }
      return { user: user(request.id) };
    },
    async createUser(request) {
      return {
        user: create(UserSchema, {
          id: "22222222-2222-4222-8222-222222222222",
          email: request.email,
          displayName: request.displayName,
          roles: request.roles,
          etag: "v1",
        }),
      };
    },
    async updateUser(request) {
      return {
        user: create(UserSchema, {
          id: request.user?.id ?? "",
          etag: "v2",
          displayName: request.updateMask?.paths.includes("display_name") === true ? (request.user?.displayName ?? "") : "unchanged",
        }),
      };
    },
    async deleteUser() {
      return {};
    },
    async listUsers(request) {
      probe.lastHeaders = undefined;
      const n = request.pageSize === 0 ? 2 : request.pageSize;
      return {
        users: Array.from({ length: n }, (_, i) => user(`33333333-3333-4333-8333-${String(i).padStart(12, "0")}`, request.query || "Ada")),
        nextPageToken: "",
      };
    },
    async *watchUsers(request, context) {
      probe.lastHeaders = context.requestHeader;
      try {
        if (request.resumeToken === "flood") {
          const big = "x".repeat(16 * 1024);
          for (let i = 0; i < 5000 && !context.signal.aborted; i++) {
            probe.produced++;
            yield { type: ChangeType.CREATED, user: user(MISSING_ID, big), resumeToken: String(i) };
          }
          return;
        }
        if (request.resumeToken === "fail") {
          yield { type: ChangeType.CREATED, user: user(MISSING_ID) };
          throw new RpcError(Code.FAILED_PRECONDITION, "the feed broke", { metadata: { "x-feed": "gone" } });
        }
        if (request.includeSnapshot) {
          for (let i = 0; i < 3; i++) yield { type: ChangeType.EXISTING, user: user(`44444444-4444-4444-8444-00000000000${i}`) };
          yield { type: ChangeType.SNAPSHOT_END };
        }
        await aborted(context.signal);
      } finally {
        if (context.signal.aborted) probe.cancelledStreams++;
      }
    },
    async importUsers() {
      return {};
    },
  };
}

/** Starts the fake backend and an edge in front of it on 127.0.0.1 (free ports). */
export async function startEdgeUnderTest(overrides: Partial<EdgeOptions["config"]> = {}): Promise<EdgeUnderTest> {
  const probe: BackendProbe = { cancelledStreams: 0, cancelledUnary: 0, produced: 0, lastHeaders: undefined };
  const backend = await startTestServer((server) => server.addService(UserService, fakeUserService(probe)));
  const client = createClient(UserService, backend.address, { interceptors: [captureContext], resilience: { retry: false } });
  const metrics = new Registry();
  const edge = createEdge({
    routes: [{ service: UserService, client }],
    config: {
      corsOrigins: ["http://allowed.example"],
      maxBodyBytes: 64 * 1024,
      maxCalls: 100,
      maxStreams: 20,
      maxConnections: 100,
      maxStreamsPerConnection: 50,
      bodyTimeoutMs: 2000,
      writeStallMs: 1000,
      maxTimeoutMs: 60_000,
      idleTimeoutMs: 30_000,
      csp: DEFAULT_CSP,
      webDir: "/nonexistent-trellis-web",
      ...overrides,
    },
    logger: createLogger({ level: "silent" }),
    metrics,
  });
  const port = await edge.listen("127.0.0.1", 0);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    backend,
    probe,
    edge,
    metrics,
    edgeCalls: () => edge.inFlight.calls,
    edgeStreams: () => edge.inFlight.streams,
    backendCalls: () => backend.server.inFlight,
    async close() {
      await edge.close(100);
      closeClient(client);
      await backend.close();
    },
  };
}

/** Polls `check` every 10 ms until it holds (a condition, not a fixed sleep); fails after `ms`. */
export async function until(check: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
