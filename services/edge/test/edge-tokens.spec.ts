/**
 * Bearer tokens through the real edge and user processes, both with TRELLIS_AUTH_JWKS: the
 * edge refuses a bad token at the door (the user process never sees the call), and forwards a
 * good one, which the user process verifies again and authorizes.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  createTempDir,
  createTestIssuer,
  startServiceProcess,
  type ServiceProcess,
  type TempDir,
  type TestIssuer,
} from "@trellis/kit/testing";

const main = (service: string): string => fileURLToPath(new URL(`../../../${service}/dist/main.js`, import.meta.url));

function get(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method: "GET", path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** GetUser calls the user process has handled, by code, from its /metrics. */
async function getUserCalls(user: ServiceProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${user.adminPort}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("grpc_server_handled_total{") && l.includes('grpc_method="GetUser"'))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

describe("bearer tokens at the edge and behind it (real edge and user processes)", { timeout: 120_000 }, () => {
  let dir: TempDir;
  let issuer: TestIssuer;
  let user: ServiceProcess;
  let edge: ServiceProcess;
  let edgePort: number;

  before(async () => {
    dir = createTempDir("trellis-edge-tokens-");
    issuer = await createTestIssuer(join(dir.path, "jwks.json"));
    const auth = {
      TRELLIS_AUTH_JWKS: join(dir.path, "jwks.json"),
      TRELLIS_AUTH_ISSUER: issuer.issuer,
      TRELLIS_AUTH_AUDIENCE: issuer.audience,
      TRELLIS_METRICS: "on",
    };
    user = await startServiceProcess(main("user"), { env: auth, startTimeoutMs: 60_000 });
    edge = await startServiceProcess(main("edge"), {
      env: {
        ...auth,
        EDGE_PORT: "0",
        EDGE_ROUTES: "trellis.user.v1.UserService=user",
        USER_SERVICE_TARGET: user.address,
        EDGE_WEB_DIR: "/nonexistent-trellis-web",
      },
      startTimeoutMs: 60_000,
    });
    const listening = edge.logs.find((l) => typeof l["http.port"] === "number");
    assert.ok(listening !== undefined, "the edge's listening line names its HTTP port");
    edgePort = listening["http.port"] as number;
  });

  after(async () => {
    await edge?.stop();
    await user?.stop();
    dir?.remove();
  });

  it("refuses a forged or expired token at the door: 401, the kit's one message, the user process never called", async () => {
    const before = await getUserCalls(user);
    const forged = await issuer.token({ key: await issuer.newKey(), kid: issuer.keys[0]!.kid });
    const expired = await issuer.token({ expiresAt: Date.now() - 3_600_000 });
    for (const token of [forged, expired, "not-a-token"]) {
      const reply = await get(edgePort, `/v1/users/${randomUUID()}`, { authorization: `Bearer ${token}` });
      assert.equal(reply.status, 401, reply.body);
      assert.equal((JSON.parse(reply.body) as { message: string }).message, "authentication failed");
    }
    assert.equal(await getUserCalls(user), before, "no call reached the user process");
    assert.ok(
      edge.logs.some((l) => l["event.action"] === "authentication" && l["event.reason"] === "bad_signature"),
      "the reason is in the edge's log",
    );
  });

  it("forwards a valid token: the user process verifies it again and lets the user read", async () => {
    const token = await issuer.token({ subject: randomUUID(), roles: ["member"] });
    const reply = await get(edgePort, `/v1/users/${randomUUID()}`, { authorization: `Bearer ${token}` });
    assert.equal(reply.status, 404, reply.body);
  });

  it("leaves a call without a token to the user service's rules: authentication required", async () => {
    const reply = await get(edgePort, `/v1/users/${randomUUID()}`, {});
    assert.equal(reply.status, 401, reply.body);
    assert.equal((JSON.parse(reply.body) as { message: string }).message, "authentication required");
  });
});
