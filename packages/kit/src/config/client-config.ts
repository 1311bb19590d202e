import type { DefaultClientInterceptorsOptions } from "../interceptors/default-chains.js";
import { oneOf, readConfig, type Env } from "./env.js";

/** How the clients runService makes for a service's callees behave. */
export interface ClientConfig {
  /**
   * The kit's client resilience policies — default timeout, breaker, retries — on the clients
   * runService makes (`TRELLIS_CLIENT_RESILIENCE`). Off inside a service mesh that owns
   * retries, timeouts and outlier ejection: with both on, a failing call is retried
   * attempts × attempts times and two breakers disagree.
   */
  readonly resilience: boolean;
}

/**
 * Reads `TRELLIS_CLIENT_RESILIENCE` (`on` | `off`, @default "on"). Throws ConfigError with
 * one line naming it for any other value.
 */
export function readClientConfig(env: Env = process.env): ClientConfig {
  const config = readConfig({ TRELLIS_CLIENT_RESILIENCE: oneOf(["on", "off"] as const, "on") }, env);
  return { resilience: config.TRELLIS_CLIENT_RESILIENCE === "on" };
}

/**
 * The client chain a mesh leaves to the kit: no default timeout, breaker or retry, but the
 * deadline link stays — it carries a caller's own deadline, caps it by the call being
 * handled and cancels with it (context propagation is part of the call, not a policy).
 */
export const MESH_CLIENT_RESILIENCE: DefaultClientInterceptorsOptions = Object.freeze({
  deadline: { defaultTimeoutMs: 0 },
  breaker: false,
  retry: false,
});

/** The createClient options a ClientConfig sets: none when resilience is on (the defaults). */
export function clientOptionsFrom(config: ClientConfig): { readonly resilience?: DefaultClientInterceptorsOptions } {
  return config.resilience ? {} : { resilience: MESH_CLIENT_RESILIENCE };
}
