import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportSPKI, SignJWT, UnsecuredJWT } from "jose";
import { createTestIssuer, type TestIssuer } from "../testing/test-issuer.js";
import { createJwksKeys, type JwksKeys } from "./jwks.js";
import {
  AuthenticationFailure,
  createJwtAuthenticator,
  type AuthenticationFailureReason,
  type Authenticator,
} from "./jwt-authenticator.js";

const T0 = Date.UTC(2030, 0, 1);

describe("bearer tokens against a JWKS", () => {
  let dir: string;
  let issuer: TestIssuer;
  let clock = T0;
  const now = (): number => clock;
  let keys: JwksKeys;
  let refreshes: string[];
  let authenticator: Authenticator;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trellis-jwt-"));
    issuer = await createTestIssuer(join(dir, "jwks.json"), { now });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const fresh = (): void => {
    clock = T0;
    refreshes = [];
    keys = createJwksKeys({ location: { file: join(dir, "jwks.json") }, now, cooldownMs: 30_000, onRefresh: (o) => refreshes.push(o) });
    authenticator = createJwtAuthenticator({
      keys: keys.getKey,
      issuer: issuer.issuer,
      audience: issuer.audience,
      now,
      clockToleranceS: 30,
    });
  };
  const refusal = async (token: string): Promise<AuthenticationFailureReason> => {
    try {
      await authenticator.verify(token);
    } catch (error) {
      assert.ok(error instanceof AuthenticationFailure, String(error));
      return error.reason;
    }
    assert.fail("the token was accepted");
  };

  it("accepts a valid token and reads subject, roles and scopes", async () => {
    fresh();
    const principal = await authenticator.verify(await issuer.token({ subject: "u-7", roles: ["admin"], scope: "users.read users.write" }));
    assert.equal(principal.subject, "u-7");
    assert.deepEqual(principal.roles, ["admin"]);
    assert.deepEqual(principal.scopes, ["users.read", "users.write"]);
  });

  const table: readonly (readonly [string, () => Promise<string>, AuthenticationFailureReason])[] = [
    ["expired (beyond the 30 s skew)", () => issuer.token({ expiresAt: T0 - 31_000 }), "expired"],
    ["not yet valid (nbf beyond the skew)", () => issuer.token({ notBefore: T0 + 31_000 }), "not_yet_valid"],
    ["for another audience", () => issuer.token({ audience: "someone-else" }), "bad_claims"],
    ["from another issuer", () => issuer.token({ issuer: "https://evil.test" }), "bad_claims"],
    [
      "signed by another key under a known kid",
      async () => issuer.token({ key: await issuer.newKey(), kid: issuer.keys[0]!.kid }),
      "bad_signature",
    ],
    [
      "alg none (unsigned)",
      async () => new UnsecuredJWT({ sub: "u", iss: issuer.issuer, aud: issuer.audience, exp: T0 / 1000 + 60 }).encode(),
      "malformed",
    ],
    [
      "HS256 with the public key as the secret (key confusion)",
      async () => {
        const pem = await exportSPKI((await issuer.newKey()).privateKey).catch(() => "-----BEGIN PUBLIC KEY-----");
        return new SignJWT({ sub: "u" })
          .setProtectedHeader({ alg: "HS256", kid: issuer.keys[0]!.kid })
          .setIssuer(issuer.issuer)
          .setAudience(issuer.audience)
          .setExpirationTime(T0 / 1000 + 60)
          .sign(new TextEncoder().encode(pem));
      },
      "algorithm_not_allowed",
    ],
    ["signed by an unpublished key", async () => issuer.token({ key: await issuer.newKey() }), "unknown_key"],
    [
      "without exp",
      async () =>
        new SignJWT({ sub: "u" })
          .setProtectedHeader({ alg: "RS256", kid: issuer.keys[0]!.kid })
          .setIssuer(issuer.issuer)
          .setAudience(issuer.audience)
          .sign(issuer.keys[0]!.privateKey),
      "bad_claims",
    ],
    ["garbage", async () => "not-a-token", "malformed"],
    ["a 64 KiB token", async () => `${"a".repeat(65_536)}.b.c`, "too_large"],
  ];
  for (const [name, make, reason] of table) {
    it(`refuses a token ${name}: ${reason}`, async () => {
      fresh();
      assert.equal(await refusal(await make()), reason);
    });
  }

  it("allows the configured clock skew on both ends", async () => {
    fresh();
    await authenticator.verify(await issuer.token({ expiresAt: T0 - 29_000 }));
    await authenticator.verify(await issuer.token({ notBefore: T0 + 29_000 }));
  });

  it("honours key rotation: an unknown kid re-reads the JWKS at most once per cooldown", async () => {
    fresh();
    await authenticator.verify(await issuer.token());
    assert.deepEqual(refreshes, ["ok"]);
    const old = issuer.keys[0]!;
    const rotated = await issuer.newKey("ES256");
    const tokenOfNewKey = await issuer.token({ key: rotated });
    // Published only now: the first try within the cooldown cannot see it.
    clock += 10_000;
    assert.equal(await refusal(tokenOfNewKey), "unknown_key");
    await issuer.publish([old, rotated]);
    assert.equal(await refusal(tokenOfNewKey), "unknown_key");
    assert.deepEqual(refreshes, ["ok"], "an unknown kid within the cooldown re-read the JWKS");
    clock += 20_001;
    assert.equal((await authenticator.verify(tokenOfNewKey)).subject, "user-1");
    assert.deepEqual(refreshes, ["ok", "ok"]);
    // A flood of made-up kids right after costs no further reads.
    for (let i = 0; i < 20; i += 1) assert.equal(await refusal(await issuer.token({ kid: `made-up-${i}` })), "unknown_key");
    assert.deepEqual(refreshes, ["ok", "ok"]);
    // The old key retired: its tokens fail once the set is re-read (its age passed).
    await issuer.publish([rotated]);
    clock += 600_001;
    await authenticator.verify(tokenOfNewKey);
    await keys.refresh();
    assert.equal(await refusal(await issuer.token({ key: old })), "unknown_key");
  });

  describe("a JWKS endpoint that misbehaves", () => {
    let server: HttpServer;
    let behaviour: "ok" | "down" | "huge" | "slow" | "not-json" = "ok";
    let hits = 0;
    let url: string;
    before(async () => {
      server = createHttpServer((request, response) => {
        hits += 1;
        if (behaviour === "down") return void response.writeHead(503).end();
        if (behaviour === "slow")
          return void setTimeout(() => response.end(JSON.stringify({ keys: issuer.keys.map((k) => k.publicJwk) })), 2000).unref();
        if (behaviour === "not-json") return void response.end("<html>");
        if (behaviour === "huge") {
          response.writeHead(200, { "content-type": "application/json" });
          // No content-length: the cap must hold while streaming.
          const chunk = Buffer.alloc(64 * 1024, 0x20);
          let sent = 0;
          const pump = (): void => {
            while (sent < 64 && response.write(chunk)) sent += 1;
            if (sent < 64) response.once("drain", pump);
            else response.end();
          };
          return pump();
        }
        response.end(JSON.stringify({ keys: issuer.keys.map((k) => k.publicJwk) }));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    // Called after each refresh outcome: a background refresh is awaited through it, not slept for.
    let refreshed = (): void => undefined;
    const remote = (): Authenticator => {
      refreshes = [];
      const onRefresh = (o: "ok" | "failed"): void => {
        refreshes.push(o);
        refreshed();
      };
      const k = createJwksKeys({ location: { url }, now, timeoutMs: 300, failureBackoffMs: 5_000, maxBytes: 256 * 1024, onRefresh });
      return createJwtAuthenticator({ keys: k.getKey, issuer: issuer.issuer, audience: issuer.audience, now });
    };

    for (const kind of ["down", "huge", "slow", "not-json"] as const) {
      it(`fails closed when the endpoint is ${kind}, and backs off instead of fetching per call`, async () => {
        clock = T0;
        behaviour = kind;
        const auth = remote();
        const token = await issuer.token();
        hits = 0;
        for (let i = 0; i < 5; i += 1)
          await assert.rejects(auth.verify(token), (e: unknown) => e instanceof AuthenticationFailure && e.reason === "keys_unavailable");
        assert.equal(hits, 1, `the endpoint was asked ${hits} times`);
        assert.deepEqual(refreshes, ["failed"]);
        behaviour = "ok";
        clock += 5_001;
        assert.equal((await auth.verify(token)).subject, "user-1");
      });
    }

    it("keeps the last good keys while the endpoint is down", async () => {
      clock = T0;
      behaviour = "ok";
      const auth = remote();
      const token = await issuer.token({ expiresAt: T0 + 86_400_000 });
      await auth.verify(token);
      behaviour = "down";
      clock += 3_600_000;
      const backgroundRefresh = new Promise<void>((resolve) => (refreshed = resolve));
      await auth.verify(token);
      await auth.verify(token);
      await backgroundRefresh;
      refreshed = () => undefined;
      assert.deepEqual(refreshes, ["ok", "failed"]);
    });
  });

  it("reads a JWKS file that is not one as unavailable keys, not a crash", async () => {
    const bad = join(dir, "bad.json");
    await writeFile(bad, '{"keys": "nope"}');
    const auth = createJwtAuthenticator({
      keys: createJwksKeys({ location: { file: bad } }).getKey,
      issuer: issuer.issuer,
      audience: issuer.audience,
      now,
    });
    await assert.rejects(
      auth.verify(await issuer.token()),
      (e: unknown) => e instanceof AuthenticationFailure && e.reason === "keys_unavailable",
    );
  });
});

describe("verified tokens remembered", () => {
  let dir: string;
  let issuer: TestIssuer;
  let clock = T0;
  const now = (): number => clock;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trellis-jwt-cache-"));
    issuer = await createTestIssuer(join(dir, "jwks.json"), { now });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** An authenticator whose key lookups (one per signature check) are counted. */
  const counting = (options: { cacheSize?: number; cacheMs?: number } = {}): { auth: Authenticator; checks: () => number } => {
    let checks = 0;
    const keys = createJwksKeys({ location: { file: join(dir, "jwks.json") }, now });
    const auth = createJwtAuthenticator({
      keys: (header, token) => {
        checks += 1;
        return keys.getKey(header, token);
      },
      issuer: issuer.issuer,
      audience: issuer.audience,
      now,
      ...options,
    });
    return { auth, checks: () => checks };
  };

  it("checks a token's signature once, then answers from memory until cacheMs", async () => {
    clock = T0;
    const { auth, checks } = counting({ cacheMs: 60_000 });
    const token = await issuer.token({ subject: "u-9", roles: ["admin"] });
    for (let i = 0; i < 5; i++) assert.equal((await auth.verify(token)).subject, "u-9");
    assert.equal(checks(), 1);
    clock += 60_000;
    await auth.verify(token);
    assert.equal(checks(), 2, "checked again once cacheMs passed");
  });

  it("never trusts a remembered token past its exp", async () => {
    clock = T0;
    const { auth, checks } = counting({ cacheMs: 600_000 });
    const token = await issuer.token({ expiresAt: T0 + 10_000 });
    await auth.verify(token);
    clock = T0 + 10_000 + 30_001; // past exp and the 30 s skew
    await assert.rejects(auth.verify(token), (e: unknown) => e instanceof AuthenticationFailure && e.reason === "expired");
    assert.equal(checks(), 2);
  });

  it("remembers only valid tokens, and at most cacheSize of them", async () => {
    clock = T0;
    const { auth, checks } = counting({ cacheSize: 2 });
    const forged = await issuer.token({ key: await issuer.newKey(), kid: issuer.keys[0]!.kid });
    for (let i = 0; i < 2; i++) await assert.rejects(auth.verify(forged));
    assert.equal(checks(), 2, "a refused token is checked every time");
    const [a, b, c] = await Promise.all([issuer.token({ subject: "a" }), issuer.token({ subject: "b" }), issuer.token({ subject: "c" })]);
    for (const t of [a, b, c]) await auth.verify(t);
    assert.equal(checks(), 5);
    await auth.verify(c);
    await auth.verify(b);
    assert.equal(checks(), 5, "the two most recent are remembered");
    await auth.verify(a);
    assert.equal(checks(), 6, "the oldest was forgotten");
  });

  it("checks every time with cacheSize 0", async () => {
    clock = T0;
    const { auth, checks } = counting({ cacheSize: 0 });
    const token = await issuer.token();
    for (let i = 0; i < 3; i++) await auth.verify(token);
    assert.equal(checks(), 3);
  });
});
