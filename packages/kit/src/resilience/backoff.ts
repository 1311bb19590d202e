/**
 * The one backoff of the kit (client retries, registry watches, DNS
 * re-resolution, lease renewal): exponential, capped, jittered so that clients
 * that failed together do not come back together.
 */
export interface BackoffOptions {
  /** Cap of the first delay. */
  readonly initialMs?: number;
  /** Largest cap. */
  readonly maxMs?: number;
  /** Growth of the cap per attempt. @default 2 */
  readonly multiplier?: number;
  /**
   * "full": uniform in [0, cap) — AWS' choice for request retries, the widest
   * spread; "equal": uniform in [cap/2, cap) — never near zero, for loops that
   * must not spin (watches, re-resolution). @default "full"
   */
  readonly jitter?: "full" | "equal";
}

/** Backoff options with every default filled in, checked. */
export type Backoff = Required<BackoffOptions>;

/**
 * The delay before attempt `attempt + 1`, where attempt 1 is the first
 * failure: jittered below min(maxMs, initialMs × multiplier^(attempt−1)).
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const cap = Math.min(backoff.maxMs, backoff.initialMs * backoff.multiplier ** Math.min(Math.max(0, attempt - 1), 64));
  return backoff.jitter === "equal" ? cap / 2 + (random() * cap) / 2 : random() * cap;
}

/**
 * Fills in defaults and checks backoff options at construction (a zero or
 * negative delay would spin); errors name `name.field`.
 */
export function checkedBackoff(
  options: BackoffOptions | undefined,
  defaults: { readonly initialMs: number; readonly maxMs: number; readonly jitter?: "full" | "equal" },
  name = "backoff",
): Backoff {
  const resolved: Backoff = {
    initialMs: options?.initialMs ?? defaults.initialMs,
    maxMs: options?.maxMs ?? defaults.maxMs,
    multiplier: options?.multiplier ?? 2,
    jitter: options?.jitter ?? defaults.jitter ?? "full",
  };
  for (const key of ["initialMs", "maxMs", "multiplier"] as const) {
    const value = resolved[key];
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name}.${key} must be a positive number (got ${value})`);
  }
  if (resolved.maxMs < resolved.initialMs)
    throw new RangeError(`${name}.maxMs (${resolved.maxMs}) is below ${name}.initialMs (${resolved.initialMs})`);
  return resolved;
}
