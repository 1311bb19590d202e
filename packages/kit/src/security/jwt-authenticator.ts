import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Principal } from "./principal.js";

/** Why a bearer token was refused: for the server's log and metrics, never for the caller. */
export type AuthenticationFailureReason =
  | "malformed"
  | "too_large"
  | "expired"
  | "not_yet_valid"
  | "bad_signature"
  | "bad_claims"
  | "algorithm_not_allowed"
  | "unknown_key"
  | "keys_unavailable";

/** A refused bearer token; `reason` and `detail` are for the log only. */
export class AuthenticationFailure extends Error {
  override readonly name = "AuthenticationFailure";
  constructor(
    readonly reason: AuthenticationFailureReason,
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}

/** Options of {@link createJwtAuthenticator}. */
export interface JwtAuthenticatorOptions {
  /** The issuer's keys (a JWKS; see createJwksKeys). */
  readonly keys: JWTVerifyGetKey;
  /** The `iss` a token must carry. */
  readonly issuer: string;
  /** An `aud` a token must carry (this API's name). */
  readonly audience: string;
  /**
   * Accepted signature algorithms. Asymmetric only: a JWKS publishes public
   * keys, and accepting HS256 there is the classic key-confusion hole.
   * @default ["RS256", "ES256", "EdDSA"]
   */
  readonly algorithms?: readonly string[];
  /** Clock skew allowed on exp and nbf, in seconds. @default 30 */
  readonly clockToleranceS?: number;
  /** The claim holding roles (a list or one string). @default "roles" */
  readonly rolesClaim?: string;
  /** Longer tokens are refused unread. @default 8192 */
  readonly maxTokenBytes?: number;
  /**
   * Verified tokens remembered (by their whole compact string), so a client
   * sending the same token on every call pays for one signature check, not
   * one per call (jose's RS256 check measured ~245 µs of CPU here). 0 turns
   * the cache off. @default 1024
   */
  readonly cacheSize?: number;
  /**
   * How long a remembered token stays trusted without a new check, at most
   * (never past its `exp`): bounds how long a key removed from the JWKS is
   * still honoured for tokens already seen. @default 60_000
   */
  readonly cacheMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Verifies bearer tokens. */
export interface Authenticator {
  /** The principal of a bearer token (the JWS compact string, without "Bearer "); throws AuthenticationFailure. */
  verify(token: string): Promise<Principal>;
}

/** The asymmetric algorithms jose verifies; anything else in the configuration is refused at start. */
export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

const COMPACT_JWS = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}$/;
const MAX_LIST = 256;

/**
 * A bearer-token verifier on jose: the signature against the issuer's JWKS,
 * `iss`, `aud`, `exp` (required), `nbf`, the algorithm against an allow-list
 * (`alg: none` and symmetric algorithms never pass). Failures say why, for the
 * log; the caller only ever hears "authentication failed".
 */
export function createJwtAuthenticator(options: JwtAuthenticatorOptions): Authenticator {
  const algorithms = [...(options.algorithms ?? ["RS256", "ES256", "EdDSA"])];
  for (const alg of algorithms) {
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg))
      throw new Error(`the JWT algorithm ${alg} is not an asymmetric signature algorithm jose verifies`);
  }
  const now = options.now ?? Date.now;
  const maxTokenBytes = options.maxTokenBytes ?? 8192;
  const rolesClaim = options.rolesClaim ?? "roles";
  const cacheSize = options.cacheSize ?? 1024;
  const cacheMs = options.cacheMs ?? 60_000;
  // Insertion-ordered: the first entry is the least recently used.
  const verified = new Map<string, { readonly principal: Principal; readonly until: number }>();
  const verifyOptions = {
    issuer: options.issuer,
    audience: options.audience,
    algorithms,
    clockTolerance: options.clockToleranceS ?? 30,
    requiredClaims: ["sub", "exp"],
  };
  return {
    async verify(token) {
      if (token.length > maxTokenBytes)
        throw new AuthenticationFailure("too_large", `a ${token.length}-byte token (at most ${maxTokenBytes})`);
      const at = now();
      const remembered = verified.get(token);
      if (remembered !== undefined) {
        verified.delete(token);
        if (at < remembered.until) {
          verified.set(token, remembered);
          return remembered.principal;
        }
      }
      if (!COMPACT_JWS.test(token)) throw new AuthenticationFailure("malformed", "not a signed JWT in compact form");
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, options.keys, { ...verifyOptions, currentDate: new Date(at) }));
      } catch (error) {
        throw failureOf(error);
      }
      const principal = principalOf(payload, rolesClaim);
      if (cacheSize > 0) {
        // Trusted until the sooner of cacheMs from now and the token's own exp (without the skew jose allows).
        verified.set(token, { principal, until: Math.min(at + cacheMs, principal.expiresAt) });
        if (verified.size > cacheSize) verified.delete(verified.keys().next().value!);
      }
      return principal;
    },
  };
}

function principalOf(payload: JWTPayload, rolesClaim: string): Principal {
  const subject = payload.sub;
  if (typeof subject !== "string" || subject === "") throw new AuthenticationFailure("bad_claims", "sub is not a non-empty string");
  return {
    subject,
    scopes: stringList(typeof payload["scope"] === "string" ? payload["scope"].split(" ") : payload["scp"]),
    roles: stringList(typeof payload[rolesClaim] === "string" ? [payload[rolesClaim]] : payload[rolesClaim]),
    issuer: payload.iss ?? "",
    expiresAt: (payload.exp ?? 0) * 1000,
    claims: payload,
  };
}

function stringList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is string => typeof item === "string" && item !== "").slice(0, MAX_LIST);
}

function failureOf(error: unknown): AuthenticationFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof errors.JWTExpired) return new AuthenticationFailure("expired", message);
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new AuthenticationFailure(error.claim === "nbf" ? "not_yet_valid" : "bad_claims", `${error.claim}: ${message}`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new AuthenticationFailure("bad_signature", message);
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported)
    return new AuthenticationFailure("algorithm_not_allowed", message);
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
    return new AuthenticationFailure("unknown_key", message);
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return new AuthenticationFailure("malformed", message);
  return new AuthenticationFailure("keys_unavailable", message);
}
