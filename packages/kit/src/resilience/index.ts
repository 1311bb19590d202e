export {
  createClientDeadlineInterceptor,
  REQUEST_ID_HEADER,
  type ClientDeadlineInterceptorOptions,
} from "./deadline-interceptor.js";
export { createBreaker, type Breaker, type BreakerOptions, type BreakerPermit, type BreakerSnapshot } from "./circuit-breaker.js";
export { createBreakerRegistry, type BreakerRegistry } from "./breaker-registry.js";
export { createBreakerInterceptor, type BreakerInterceptorOptions } from "./breaker-interceptor.js";
export { isBreakerFailure } from "./status.js";
export { createRetryBudget, type RetryBudget, type RetryBudgetOptions, type RetryBudgetSnapshot } from "./retry-budget.js";
export { createRetryStats, type RetryCounters, type RetryStats } from "./retry-stats.js";
export { createRetryInterceptor, isIdempotentMethod, type RetryInterceptorOptions, type Sleep } from "./retry-interceptor.js";
export { defaultClientInterceptors, type DefaultClientInterceptorsOptions } from "./default-client-interceptors.js";
