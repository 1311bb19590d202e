import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, closeClient, createClient, createLogger, createServer, RpcError, type Client, type Server } from "@trellis/kit";
import { codeName } from "@trellis/kit/errors";
import { RequestInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import {
  createAuthInterceptor,
  createAuthorizationInterceptor,
  createClientCredentials,
  createJwksKeys,
  createJwtAuthenticator,
  loadTlsFiles,
  spiffeId,
  type TlsFiles,
} from "@trellis/kit/security";
import { createTestIssuer, createTestPki, rpcFailure, type TestIssuer } from "@trellis/kit/testing";
import { Role, UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { createChangeFeed, type ChangeFeed } from "../internal/change-feed.js";
import { userAuthorization } from "../internal/user-authorization.js";
import { createUserHandlers } from "../internal/user-handlers.js";
import { createMemoryUserRepository } from "../repository/memory-user-repository.js";

type Peer = "edge" | "chat" | "stranger";
type Caller = "none" | "alice" | "bob" | "admin" | "expired" | "forged";
type Outcome = "allowed" | typeof Code.UNAUTHENTICATED | typeof Code.PERMISSION_DENIED;

/**
 * The rules of the README's Security section, written out independently of
 * user-authorization.ts: what each caller may do to alice's record.
 */
function expected(method: string, peer: Peer, caller: Caller): Outcome {
  if (caller === "expired" || caller === "forged") return Code.UNAUTHENTICATED;
  if (peer === "stranger") return Code.PERMISSION_DENIED;
  if (peer === "chat") return method === "getUser" ? "allowed" : Code.PERMISSION_DENIED;
  if (caller === "none") return Code.UNAUTHENTICATED;
  const admin = caller === "admin";
  const self = caller === "alice";
  switch (method) {
    case "getUser":
    case "listUsers":
    case "watchUsers":
      return "allowed";
    case "createUser":
    case "importUsers":
    case "updateRoles":
      return admin ? "allowed" : Code.PERMISSION_DENIED;
    case "updateEmail":
    case "deleteUser":
      return admin || self ? "allowed" : Code.PERMISSION_DENIED;
    default:
      throw new Error(method);
  }
}

describe("who may call the user service (mTLS peers × bearer tokens × methods)", () => {
  let dir: string;
  let issuer: TestIssuer;
  let server: Server;
  let feed: ChangeFeed;
  let aliceId: string;
  const files: TlsFiles[] = [];
  const clients = new Map<Peer, Client<typeof UserService>>();
  const tokens = new Map<Caller, string | undefined>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trellis-user-authz-"));
    const pki = await createTestPki(join(dir, "pki"));
    const serverId = await pki.issue("user");
    issuer = await createTestIssuer(join(dir, "jwks.json"));
    const repository = createMemoryUserRepository();
    const alice = await repository.create({ id: randomUUID(), email: "alice@example.com", displayName: "Alice", roles: [Role.MEMBER] });
    aliceId = alice.id;
    tokens.set("none", undefined);
    tokens.set("alice", await issuer.token({ subject: aliceId, roles: ["member"] }));
    tokens.set("bob", await issuer.token({ subject: randomUUID(), roles: ["member"] }));
    tokens.set("admin", await issuer.token({ subject: randomUUID(), roles: ["admin"] }));
    tokens.set("expired", await issuer.token({ subject: aliceId, roles: ["admin"], expiresAt: Date.now() - 3_600_000 }));
    tokens.set("forged", await issuer.token({ subject: aliceId, roles: ["admin"], key: await issuer.newKey(), kid: issuer.keys[0]!.kid }));
    const serverFiles = await loadTlsFiles({
      certFile: serverId.certFile,
      keyFile: serverId.keyFile,
      caFile: pki.caFile,
      watch: false,
      checkIntervalMs: 0,
    });
    files.push(serverFiles);
    const authenticator = createJwtAuthenticator({
      keys: createJwksKeys({ location: { file: join(dir, "jwks.json") } }).getKey,
      issuer: issuer.issuer,
      audience: issuer.audience,
    });
    feed = createChangeFeed(repository);
    server = createServer({
      logger: createLogger({ level: "silent" }),
      shutdownGraceMs: 1000,
      tls: { files: serverFiles, clientAuth: "require" },
      interceptors: [
        createAuthInterceptor({ authenticator }),
        createAuthorizationInterceptor({ rules: [userAuthorization], checkPeers: true, checkUsers: true }),
      ],
    });
    server.addService(UserService, createUserHandlers({ repository, feed }));
    const { port } = await server.listen({ host: "127.0.0.1", port: 0 });
    for (const peer of ["edge", "chat", "stranger"] as const) {
      const id = await pki.issue(peer);
      const clientFiles = await loadTlsFiles({
        certFile: id.certFile,
        keyFile: id.keyFile,
        caFile: pki.caFile,
        watch: false,
        checkIntervalMs: 0,
      });
      files.push(clientFiles);
      clients.set(
        peer,
        createClient(UserService, `127.0.0.1:${port}`, {
          credentials: createClientCredentials({ files: clientFiles, serverIdentity: spiffeId("user") }),
          resilience: false,
        }),
      );
    }
  });
  after(async () => {
    for (const client of clients.values()) closeClient(client);
    await server.shutdown();
    await feed.close();
    for (const f of files) f.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** One call of `method` as `caller` through `peer`; resolves with its status code (OK as 0). */
  const call = async (method: string, peer: Peer, caller: Caller): Promise<Code> => {
    const users = clients.get(peer)!;
    const token = tokens.get(caller);
    const options = { timeoutMs: 5000, ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }) };
    const run = async (): Promise<unknown> => {
      switch (method) {
        case "getUser":
          return users.getUser({ id: aliceId }, options);
        case "listUsers":
          return users.listUsers({ pageSize: 1 }, options);
        case "createUser":
          return users.createUser({ email: `${randomUUID()}@example.com`, displayName: "New" }, options);
        case "updateEmail":
          return users.updateUser({ user: { id: aliceId, displayName: "Alice" }, updateMask: { paths: ["display_name"] } }, options);
        case "updateRoles":
          return users.updateUser({ user: { id: aliceId, roles: [Role.MEMBER] }, updateMask: { paths: ["roles"] } }, options);
        case "deleteUser": {
          // A user that does not exist: NOT_FOUND means the call got past authorization.
          const subject = caller === "alice" ? aliceId : randomUUID();
          return users.deleteUser({ id: subject, etag: '"does-not-match"' }, options);
        }
        case "watchUsers": {
          const abort = new AbortController();
          for await (const _ of users.watchUsers({}, { ...options, signal: abort.signal })) break;
          abort.abort();
          return undefined;
        }
        case "importUsers":
          return users.importUsers((async function* () {})(), options);
        default:
          throw new Error(method);
      }
    };
    try {
      await run();
      return Code.OK;
    } catch (error) {
      assert.ok(error instanceof RpcError, String(error));
      if (error.code === Code.UNAUTHENTICATED || error.code === Code.PERMISSION_DENIED) {
        // Nothing that helps an attacker: one fixed message per code, and only the request id as a detail.
        assert.match(error.message, error.code === Code.PERMISSION_DENIED ? /^permission denied$/ : /^authentication (failed|required)$/);
        assert.deepEqual(
          error.details.map((d) => d.schema.typeName),
          [RequestInfoSchema.typeName],
        );
      }
      return error.code;
    }
  };

  const methods = ["getUser", "listUsers", "createUser", "updateEmail", "updateRoles", "deleteUser", "watchUsers", "importUsers"];
  for (const peer of ["edge", "chat", "stranger"] as const) {
    it(`enforces the rules for calls through ${peer}`, async () => {
      const wrong: string[] = [];
      for (const method of methods) {
        for (const caller of ["none", "alice", "bob", "admin", "expired", "forged"] as const) {
          const want = expected(method, peer, caller);
          const got = await call(method, peer, caller);
          const ok = want === "allowed" ? got !== Code.UNAUTHENTICATED && got !== Code.PERMISSION_DENIED : got === want;
          if (!ok) wrong.push(`${method} as ${caller}: got ${codeName(got)}, want ${want === "allowed" ? "allowed" : codeName(want)}`);
        }
      }
      assert.deepEqual(wrong, []);
    });
  }

  it("tells a refused token and a missing one apart only by the status code, never by why", async () => {
    const refused = await rpcFailure(
      clients.get("edge")!.getUser({ id: aliceId }, { headers: { authorization: `Bearer ${tokens.get("expired")}` } }),
    );
    const forged = await rpcFailure(
      clients.get("edge")!.getUser({ id: aliceId }, { headers: { authorization: `Bearer ${tokens.get("forged")}` } }),
    );
    const garbage = await rpcFailure(
      clients.get("edge")!.getUser({ id: aliceId }, { headers: { authorization: "Basic YWxhZGRpbjpvcGVuc2VzYW1l" } }),
    );
    assert.deepEqual(
      [refused.message, forged.message, garbage.message],
      ["authentication failed", "authentication failed", "authentication failed"],
    );
  });
});
