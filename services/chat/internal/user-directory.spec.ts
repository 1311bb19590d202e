import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, RpcError } from "@trellis/kit";
import { rpcFailure } from "@trellis/kit/testing";
import { RetryInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import { GetUserResponseSchema, type GetUserResponse } from "@trellis/api/trellis/user/v1/user_pb.js";
import { createUserDirectory } from "./user-directory.js";

/** A GetUser stand-in over a map of names, counting the calls that reached it. */
function fakeUsers() {
  const names = new Map<string, string>();
  const state = { calls: 0, down: false };
  return {
    names,
    state,
    client: {
      async getUser({ id = "" }: { id?: string }): Promise<GetUserResponse> {
        state.calls += 1;
        if (state.down) throw new RpcError(Code.UNAVAILABLE, "connection refused");
        const name = names.get(id);
        if (name === undefined) throw new RpcError(Code.NOT_FOUND, `user ${id} not found`);
        return create(GetUserResponseSchema, { user: { id, displayName: name, email: `${id}@example.com` } });
      },
    },
  };
}

describe("chat's user directory (its defaults: 30 s, 1,000 users)", () => {
  it("trusts a cached user for 30 s, then asks the user service again", async () => {
    const users = fakeUsers();
    let clock = 1_000;
    const directory = createUserDirectory(users.client, { now: () => clock });
    const id = randomUUID();
    users.names.set(id, "Ann");
    assert.equal((await directory.resolve(id)).displayName, "Ann");
    users.names.set(id, "Anne");
    clock += 29_999;
    assert.equal((await directory.resolve(id)).displayName, "Ann", "still cached after 29.999 s");
    assert.equal(users.state.calls, 1);
    clock += 2;
    assert.equal((await directory.resolve(id)).displayName, "Anne", "looked up again after 30 s");
    assert.equal(users.state.calls, 2);
  });

  it("keeps the 1,000 most recently used users", async () => {
    const users = fakeUsers();
    const directory = createUserDirectory(users.client);
    const ids = Array.from({ length: 1001 }, (_, i) => {
      const id = randomUUID();
      users.names.set(id, `User ${i}`);
      return id;
    });
    for (const id of ids) await directory.resolve(id);
    assert.equal(users.state.calls, 1001);
    await directory.resolve(ids[1]!); // the oldest one still kept
    assert.equal(users.state.calls, 1001);
    await directory.resolve(ids[0]!); // pushed out by the 1,001st
    assert.equal(users.state.calls, 1002);
  });

  it("answers an unknown user with FAILED_PRECONDITION and an outage with UNAVAILABLE + RetryInfo, serving cached users meanwhile", async () => {
    const users = fakeUsers();
    const directory = createUserDirectory(users.client);
    const known = randomUUID();
    users.names.set(known, "Known");
    await directory.resolve(known);
    assert.equal((await rpcFailure(directory.resolve(randomUUID()))).code, Code.FAILED_PRECONDITION);
    users.state.down = true;
    assert.equal((await directory.resolve(known)).displayName, "Known");
    const outage = await rpcFailure(directory.resolve(randomUUID()));
    assert.equal(outage.code, Code.UNAVAILABLE);
    assert.ok(outage.findDetail(RetryInfoSchema), "RetryInfo tells the client to come back");
  });
});
