import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Code, RpcError, closeClient, createClient, type Client, type ServiceImpl } from "@trellis/kit";
import { rpcFailure, startTestServer, type TestServer } from "@trellis/kit/testing";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";

/**
 * A UserService whose every method fails its first call with UNAVAILABLE (as an instance that
 * went away does) and answers the second; it counts the attempts each method saw.
 */
function flakyUserService(): { impl: ServiceImpl<typeof UserService>; attempts: Map<string, number> } {
  const attempts = new Map<string, number>();
  const attempt = (method: string): void => {
    const n = (attempts.get(method) ?? 0) + 1;
    attempts.set(method, n);
    if (n === 1) throw new RpcError(Code.UNAVAILABLE, "instance went away");
  };
  const user = { id: randomUUID(), email: "flaky@example.com", displayName: "Flaky" };
  return {
    attempts,
    impl: {
      getUser: async () => (attempt("getUser"), { user }),
      listUsers: async () => (attempt("listUsers"), { users: [user] }),
      createUser: async () => (attempt("createUser"), { user }),
      updateUser: async () => (attempt("updateUser"), { user }),
      deleteUser: async () => (attempt("deleteUser"), {}),
      importUsers: async () => (attempt("importUsers"), {}),
      // eslint-disable-next-line require-yield
      async *watchUsers() {
        attempt("watchUsers");
      },
    },
  };
}

// What the contract (idempotency_level in user.proto) makes of a transient failure, through the
// client every service uses with its defaults: GetUser and ListUsers are safe to send twice,
// writes are not.
describe("UserService retry eligibility (user.proto's idempotency levels, the client's defaults)", () => {
  let fake: ReturnType<typeof flakyUserService>;
  let t: TestServer;
  let users: Client<typeof UserService>;

  before(async () => {
    fake = flakyUserService();
    t = await startTestServer((s) => s.addService(UserService, fake.impl));
    users = createClient(UserService, t.address);
  });
  after(async () => {
    closeClient(users);
    await t.close();
  });

  it("retries GetUser and ListUsers after UNAVAILABLE", async () => {
    assert.equal((await users.getUser({ id: randomUUID() })).user?.displayName, "Flaky");
    assert.equal((await users.listUsers({})).users.length, 1);
    assert.equal(fake.attempts.get("getUser"), 2);
    assert.equal(fake.attempts.get("listUsers"), 2);
  });

  it("never sends CreateUser, UpdateUser, DeleteUser or ImportUsers twice", async () => {
    const writes: [string, () => Promise<unknown>][] = [
      ["createUser", () => users.createUser({ email: "w@example.com", displayName: "W" })],
      ["updateUser", () => users.updateUser({ user: { id: randomUUID(), displayName: "W" }, updateMask: { paths: ["display_name"] } })],
      ["deleteUser", () => users.deleteUser({ id: randomUUID() })],
      ["importUsers", () => users.importUsers((async function* () {})())],
    ];
    for (const [method, call] of writes) {
      const error = await rpcFailure(call());
      assert.equal(error.code, Code.UNAVAILABLE, `${method}: ${error.message}`);
      assert.equal(fake.attempts.get(method), 1, `${method} was sent once`);
    }
  });
});
