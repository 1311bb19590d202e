import { Counter } from "prom-client";
import type { MetricsRegistry } from "../observability/grpc-metrics.js";
import type { DenialReason } from "./authorization.js";
import type { AuthenticationFailureReason } from "./jwt-authenticator.js";

/** The counters of authentication and authorization refusals. */
export interface AuthMetrics {
  failed(reason: AuthenticationFailureReason): void;
  denied(reason: DenialReason): void;
  jwksRefreshed(outcome: "ok" | "failed"): void;
}

/**
 * `trellis_auth_failures_total{reason}` (bearer tokens refused, by why),
 * `trellis_authz_denials_total{reason}` (calls refused by the rules: no_rule,
 * no_identity, not_allowed) and `trellis_jwks_refreshes_total{outcome}`.
 * The statuses themselves are in grpc_server_handled_total.
 */
export function createAuthMetrics(registry: MetricsRegistry): AuthMetrics {
  const failures = new Counter({
    name: "trellis_auth_failures_total",
    help: "Bearer tokens refused, by reason (malformed, too_large, expired, not_yet_valid, bad_signature, bad_claims, algorithm_not_allowed, unknown_key, keys_unavailable).",
    labelNames: ["reason"],
    registers: [registry],
  });
  const denials = new Counter({
    name: "trellis_authz_denials_total",
    help: "Calls refused by the authorization rules, by reason (no_rule, no_identity, not_allowed).",
    labelNames: ["reason"],
    registers: [registry],
  });
  const refreshes = new Counter({
    name: "trellis_jwks_refreshes_total",
    help: "Fetches (or reads) of the issuer's JWKS, by outcome.",
    labelNames: ["outcome"],
    registers: [registry],
  });
  return {
    failed: (reason) => failures.inc({ reason }),
    denied: (reason) => denials.inc({ reason }),
    jwksRefreshed: (outcome) => refreshes.inc({ outcome }),
  };
}
