/**
 * The one backoff of the kit (client retries, registry watches, DNS
 * re-resolution): exponential with full jitter (AWS' "Exponential Backoff And
 * Jitter"), so that clients that failed together do not come back together.
 */
export interface BackoffOptions {
  /** Cap of the first delay. */
  readonly initialMs?: number;
  /** Largest cap. */
  readonly maxMs?: number;
  /** Growth of the cap per attempt. @default 2 */
  readonly multiplier?: number;
}

/**
 * The delay before attempt `attempt + 1` (attempt 1 is the first failure): a
 * uniform random time below min(maxMs, initialMs × multiplier^(attempt−1)).
 */
export function backoffDelay(attempt: number, options: Required<Pick<BackoffOptions, "initialMs" | "maxMs">> & BackoffOptions, random: () => number = Math.random): number {
  const cap = Math.min(options.maxMs, options.initialMs * (options.multiplier ?? 2) ** Math.max(0, attempt - 1));
  return random() * cap;
}

/** Checks backoff options at construction (a zero or negative delay would spin); `name` prefixes the message. */
export function checkedBackoff(options: BackoffOptions | undefined, defaults: { readonly initialMs: number; readonly maxMs: number }, name = "backoff"): Required<BackoffOptions> {
  const resolved = { initialMs: options?.initialMs ?? defaults.initialMs, maxMs: options?.maxMs ?? defaults.maxMs, multiplier: options?.multiplier ?? 2 };
  for (const [key, value] of Object.entries(resolved)) {
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name}.${key} must be a positive number (got ${value})`);
  }
  if (resolved.maxMs < resolved.initialMs) throw new RangeError(`${name}.maxMs (${resolved.maxMs}) is below ${name}.initialMs (${resolved.initialMs})`);
  return resolved;
}
