import { createContextKey } from "../call/context-values.js";

/** The end user (or client application) a verified bearer token speaks for. */
export interface Principal {
  /** The token's `sub`. */
  readonly subject: string;
  /** OAuth scopes: the token's `scope` (space-separated) or `scp` (a list). */
  readonly scopes: readonly string[];
  /** Roles: the token's roles claim (`roles` unless configured otherwise). */
  readonly roles: readonly string[];
  /** The token's issuer. */
  readonly issuer: string;
  /** When the token expires, epoch milliseconds. */
  readonly expiresAt: number;
  /** Every claim of the token, for rules that need one of their own. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * The verified principal of a server call, or undefined (no bearer token).
 * Set by the authentication interceptor; authorization and handlers read it.
 */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "trellis.principal" });
