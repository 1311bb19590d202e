/**
 * The algorithms behind the client's resilience chain (its interceptors live
 * in `@trellis/kit/interceptors`): the SRE circuit breaker, the retry budget,
 * the one backoff.
 */
export { createBreaker, type Breaker, type BreakerOptions, type BreakerPermit, type BreakerSnapshot } from "./circuit-breaker.js";
export { createBreakerRegistry, type BreakerRegistry } from "./breaker-registry.js";
export { createRetryBudget, type RetryBudget, type RetryBudgetOptions, type RetryBudgetSnapshot } from "./retry-budget.js";
export { createRetryStats, type RetryCounters, type RetryStats } from "./retry-stats.js";
export { backoffDelay, checkedBackoff, type Backoff, type BackoffOptions } from "./backoff.js";
export {
  createRateLimiter,
  parseRateLimit,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimit,
  type RateDecision,
  type FailMode,
} from "./rate-limiter.js";
export { createLoadShedder, type LoadShedder, type LoadShedderOptions, type Admission, type ShedderSnapshot } from "./load-shedder.js";
export { createEventLoopSignal, type LoadSignal, type LoadReading, type EventLoopSignalOptions } from "./load-signal.js";
