import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, createLogger, type CallResponse } from "@trellis/kit";
import { AUTHENTICATION_FAILED, AuthenticationFailure, type Authenticator } from "@trellis/kit/security";
import { createTestRequest, rpcFailure } from "@trellis/kit/testing";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { createEdgeAuthInterceptor } from "../internal/edge-auth.js";

const OK: CallResponse = { stream: false, message: {} };
const principal = { subject: "alice", scopes: [], roles: [], issuer: "https://issuer.test", expiresAt: 0, claims: {} };

/** Accepts the token "good"; anything else fails as an expired token would. */
const authenticator: Authenticator = {
  verify: async (token) => {
    if (token === "good") return principal;
    throw new AuthenticationFailure("expired", `token ${token} expired`);
  },
};

describe("the edge verifies its callers' bearer tokens before calling a backend", () => {
  const call = (authorization?: string) =>
    createTestRequest({
      method: UserService.method.getUser,
      side: "client",
      message: {},
      ...(authorization === undefined ? {} : { requestHeader: { authorization } }),
    });

  it("passes a verified token on unchanged", async () => {
    const interceptor = createEdgeAuthInterceptor({ authenticator, logger: createLogger({ level: "silent" }) });
    const request = call("Bearer good");
    let forwarded: string | null = null;
    const response = await interceptor(async (r) => {
      forwarded = r.context.requestHeader.get("authorization");
      return OK;
    })(request);
    assert.equal(response, OK);
    assert.equal(forwarded, "Bearer good");
  });

  it("passes a call without a token: the backend's rules decide", async () => {
    const interceptor = createEdgeAuthInterceptor({ authenticator, logger: createLogger({ level: "silent" }) });
    assert.equal(await interceptor(async () => OK)(call()), OK);
  });

  it("refuses a bad token with UNAUTHENTICATED and the one fixed message, the reason only counted", async () => {
    const reasons: string[] = [];
    const interceptor = createEdgeAuthInterceptor({
      authenticator,
      logger: createLogger({ level: "silent" }),
      onFailure: (reason) => reasons.push(reason),
    });
    for (const header of ["Bearer expired-one", "Basic dXNlcjpwYXNz"]) {
      const error = await rpcFailure(interceptor(async () => assert.fail("the backend was called"))(call(header)));
      assert.equal(error.code, Code.UNAUTHENTICATED);
      assert.equal(error.message, AUTHENTICATION_FAILED);
    }
    assert.deepEqual(reasons, ["expired", "malformed"]);
  });
});
