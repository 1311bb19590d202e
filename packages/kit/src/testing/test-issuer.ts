import { writeFile, rename } from "node:fs/promises";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

/** A signing key of a test issuer, with its key id. */
export interface TestSigningKey {
  readonly kid: string;
  readonly alg: "RS256" | "ES256";
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** Claims and header of a test token; `now` is the token's clock, epoch ms. */
export interface TestTokenOptions {
  readonly subject?: string;
  readonly roles?: readonly string[];
  readonly scope?: string;
  readonly issuer?: string;
  readonly audience?: string;
  /** Epoch ms. @default now + 1 hour */
  readonly expiresAt?: number;
  /** Epoch ms; omitted when undefined. */
  readonly notBefore?: number;
  /** @default the issuer's current key */
  readonly key?: TestSigningKey;
  /** A `kid` to put in the header instead of the key's own. */
  readonly kid?: string;
  readonly claims?: JWTPayload;
}

/** An OpenID-style issuer for tests: keys, a JWKS file, signed tokens. */
export interface TestIssuer {
  readonly issuer: string;
  readonly audience: string;
  /** The keys published in the JWKS, newest last. */
  readonly keys: TestSigningKey[];
  /** Makes a key (not published until `publish`). */
  newKey(alg?: "RS256" | "ES256"): Promise<TestSigningKey>;
  /** Writes the JWKS file with exactly these keys (atomically). */
  publish(keys: readonly TestSigningKey[]): Promise<void>;
  /** A signed token. */
  token(options?: TestTokenOptions): Promise<string>;
}

/**
 * A test issuer whose JWKS lives at `jwksFile`, starting with one published
 * RS256 key. Tokens default to subject "user-1", one hour of validity, the
 * issuer's `issuer` and `audience`.
 */
export async function createTestIssuer(
  jwksFile: string,
  options: { readonly issuer?: string; readonly audience?: string; readonly now?: () => number } = {},
): Promise<TestIssuer> {
  const now = options.now ?? Date.now;
  let counter = 0;
  const newKey = async (alg: "RS256" | "ES256" = "RS256"): Promise<TestSigningKey> => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    counter += 1;
    const kid = `test-key-${counter}`;
    return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
  };
  const issuer: TestIssuer = {
    issuer: options.issuer ?? "https://issuer.test",
    audience: options.audience ?? "trellis",
    keys: [],
    newKey,
    async publish(keys) {
      issuer.keys.splice(0, issuer.keys.length, ...keys);
      const tmp = `${jwksFile}.tmp`;
      await writeFile(tmp, JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
      await rename(tmp, jwksFile);
    },
    async token(t = {}) {
      const key = t.key ?? issuer.keys.at(-1);
      if (key === undefined) throw new Error("the test issuer has no key");
      const at = now();
      const jwt = new SignJWT({
        ...(t.roles === undefined ? {} : { roles: [...t.roles] }),
        ...(t.scope === undefined ? {} : { scope: t.scope }),
        ...t.claims,
      })
        .setProtectedHeader({ alg: key.alg, kid: t.kid ?? key.kid, typ: "JWT" })
        .setSubject(t.subject ?? "user-1")
        .setIssuer(t.issuer ?? issuer.issuer)
        .setAudience(t.audience ?? issuer.audience)
        .setIssuedAt(Math.floor(at / 1000))
        .setExpirationTime(Math.floor((t.expiresAt ?? at + 3_600_000) / 1000));
      if (t.notBefore !== undefined) jwt.setNotBefore(Math.floor(t.notBefore / 1000));
      return jwt.sign(key.privateKey);
    },
  };
  await issuer.publish([await newKey()]);
  return issuer;
}
