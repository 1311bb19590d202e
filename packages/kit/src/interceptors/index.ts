/**
 * Every interceptor of the kit, server and client side, and the two default
 * chains. All have the one `Interceptor` type; client-side links let server
 * calls pass and the other way round.
 */
export {
  defaultServerInterceptors,
  defaultClientInterceptors,
  type DefaultServerInterceptorOptions,
  type DefaultClientInterceptorsOptions,
} from "./default-chains.js";
export { createLoggingInterceptor, type LoggingInterceptorOptions } from "./logging.js";
export { createRecoverInterceptor } from "./recover.js";
export { createValidationInterceptor } from "./validation.js";
export { createClientDeadlineInterceptor, REQUEST_ID_HEADER, type ClientDeadlineInterceptorOptions } from "./deadline.js";
export { createBreakerInterceptor, type BreakerInterceptorOptions } from "./breaker.js";
export { createRetryInterceptor, isIdempotentMethod, type RetryInterceptorOptions, type Sleep } from "./retry.js";
export { createRateLimitInterceptor, callerKey, type RateLimitInterceptorOptions, type RateLimitRefusal } from "./rate-limit.js";
