import { createBreaker, type Breaker, type BreakerOptions, type BreakerSnapshot } from "./circuit-breaker.js";

/**
 * The breakers of one client (or a group of clients), by key, created on first
 * use. An instance the client owns rather than a module global, so two clients
 * never share state by accident and tests start clean.
 */
export interface BreakerRegistry {
  /** The breaker for `key`, created with the registry's options on first use. */
  get(key: string): Breaker;
  /** Every breaker's state, by key: what a metrics exporter or admin page reads. */
  snapshot(): Readonly<Record<string, BreakerSnapshot>>;
}

/**
 * A registry whose breakers all use `options`. Keys are expected to be bounded
 * (target × method), so breakers are kept for the registry's lifetime.
 */
export function createBreakerRegistry(options: BreakerOptions = {}): BreakerRegistry {
  const breakers = new Map<string, Breaker>();
  return {
    get(key) {
      let breaker = breakers.get(key);
      if (breaker === undefined) {
        breaker = createBreaker(options);
        breakers.set(key, breaker);
      }
      return breaker;
    },
    snapshot() {
      return Object.fromEntries([...breakers].map(([key, breaker]) => [key, breaker.snapshot()]));
    },
  };
}
