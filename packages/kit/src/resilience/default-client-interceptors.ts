import type { ClientInterceptor } from "../interceptors/client-interceptor.js";
import { createBreakerInterceptor, type BreakerInterceptorOptions } from "./breaker-interceptor.js";
import { createClientDeadlineInterceptor, type ClientDeadlineInterceptorOptions } from "./deadline-interceptor.js";
import { createRetryInterceptor, type RetryInterceptorOptions } from "./retry-interceptor.js";

/** Options of {@link defaultClientInterceptors}: each link's options, or `false` to leave it out. */
export interface DefaultClientInterceptorsOptions {
  /** @default {} */
  readonly deadline?: ClientDeadlineInterceptorOptions | false;
  /** @default {} (a registry of its own: pass `breakers` to observe it) */
  readonly breaker?: BreakerInterceptorOptions | false;
  /** @default {} (a budget and stats of its own: pass `budget`, `stats` to observe them) */
  readonly retry?: RetryInterceptorOptions | false;
}

/**
 * The client chain, outermost first: deadline → breaker → retry. The deadline
 * comes first so a call whose budget is spent is never counted by the breaker,
 * and the retries run inside it; the breaker sees one outcome per call, not one
 * per attempt, and its fast failures are not retried. Call it once per client:
 * the breakers and the retry budget it creates belong to that client.
 */
export function defaultClientInterceptors(options: DefaultClientInterceptorsOptions = {}): ClientInterceptor[] {
  const chain: ClientInterceptor[] = [];
  if (options.deadline !== false) chain.push(createClientDeadlineInterceptor(options.deadline));
  if (options.breaker !== false) chain.push(createBreakerInterceptor(options.breaker));
  if (options.retry !== false) chain.push(createRetryInterceptor(options.retry));
  return chain;
}
