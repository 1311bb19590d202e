import { ASYMMETRIC_ALGORITHMS } from "../security/jwt-authenticator.js";
import type { JwksLocation } from "../security/jwks.js";
import { ConfigError, integer, readConfig, text, type Env } from "./env.js";

/** Bearer-token authentication, as configured (off: `false`). */
export interface AuthConfig {
  readonly jwks: JwksLocation;
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: readonly string[];
  readonly clockToleranceS: number;
  readonly rolesClaim: string;
  readonly cooldownMs: number;
  readonly maxAgeMs: number;
  readonly timeoutMs: number;
}

/**
 * Reads the authentication variables. Off unless `TRELLIS_AUTH_JWKS` names
 * the issuer's key set (a file, or an http(s) URL); then `TRELLIS_AUTH_ISSUER`
 * and `TRELLIS_AUTH_AUDIENCE` are required.
 */
export function readAuthConfig(env: Env = process.env): AuthConfig | false {
  const c = readConfig(
    {
      TRELLIS_AUTH_JWKS: text({ default: "", pattern: /^[^\0\r\n]+$/, expected: "a JWKS file path or an http(s) URL" }),
      TRELLIS_AUTH_ISSUER: text({ default: "", pattern: /^\S+$/, expected: "the token issuer (iss) without spaces" }),
      TRELLIS_AUTH_AUDIENCE: text({ default: "", pattern: /^\S+$/, expected: "the audience (aud) without spaces" }),
      TRELLIS_AUTH_ALGORITHMS: text({
        default: "RS256,ES256,EdDSA",
        pattern: /^[A-Za-z0-9]+(,[A-Za-z0-9]+)*$/,
        expected: "a comma-separated list such as RS256,ES256",
      }),
      TRELLIS_AUTH_CLOCK_SKEW_S: integer({ default: 30, min: 0, max: 600 }),
      TRELLIS_AUTH_ROLES_CLAIM: text({ default: "roles", pattern: /^[\w:/.-]{1,128}$/, expected: "a claim name" }),
      TRELLIS_AUTH_JWKS_COOLDOWN_MS: integer({ default: 30_000, min: 0, max: 86_400_000 }),
      TRELLIS_AUTH_JWKS_MAX_AGE_MS: integer({ default: 0, min: 0, max: 86_400_000 }),
      TRELLIS_AUTH_JWKS_TIMEOUT_MS: integer({ default: 5_000, min: 100, max: 60_000 }),
    },
    env,
  );
  if (c.TRELLIS_AUTH_JWKS === "") {
    for (const name of ["TRELLIS_AUTH_ISSUER", "TRELLIS_AUTH_AUDIENCE"] as const) {
      if (c[name] !== "") throw new ConfigError(name, `${name} has no effect without TRELLIS_AUTH_JWKS (the issuer's key set)`);
    }
    return false;
  }
  for (const name of ["TRELLIS_AUTH_ISSUER", "TRELLIS_AUTH_AUDIENCE"] as const) {
    if (c[name] === "") throw new ConfigError(name, `${name} is required with TRELLIS_AUTH_JWKS`);
  }
  const algorithms = c.TRELLIS_AUTH_ALGORITHMS.split(",");
  for (const alg of algorithms) {
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new ConfigError(
        "TRELLIS_AUTH_ALGORITHMS",
        `TRELLIS_AUTH_ALGORITHMS must list asymmetric algorithms among ${ASYMMETRIC_ALGORITHMS.join(", ")} (got "${alg}")`,
      );
    }
  }
  const jwks = jwksLocation(c.TRELLIS_AUTH_JWKS);
  return {
    jwks,
    issuer: c.TRELLIS_AUTH_ISSUER,
    audience: c.TRELLIS_AUTH_AUDIENCE,
    algorithms,
    clockToleranceS: c.TRELLIS_AUTH_CLOCK_SKEW_S,
    rolesClaim: c.TRELLIS_AUTH_ROLES_CLAIM,
    cooldownMs: c.TRELLIS_AUTH_JWKS_COOLDOWN_MS,
    // A file is cheap to re-read: a minute; a URL: jose's ten minutes.
    maxAgeMs: c.TRELLIS_AUTH_JWKS_MAX_AGE_MS > 0 ? c.TRELLIS_AUTH_JWKS_MAX_AGE_MS : "file" in jwks ? 60_000 : 600_000,
    timeoutMs: c.TRELLIS_AUTH_JWKS_TIMEOUT_MS,
  };
}

function jwksLocation(value: string): JwksLocation {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return { file: value };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError("TRELLIS_AUTH_JWKS", "TRELLIS_AUTH_JWKS must be a file path or an http(s) URL (got an unparsable URL)");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new ConfigError("TRELLIS_AUTH_JWKS", `TRELLIS_AUTH_JWKS must use http or https (got "${url.protocol.slice(0, -1)}")`);
  return { url: url.href };
}
