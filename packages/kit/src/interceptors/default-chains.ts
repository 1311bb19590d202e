import type { Interceptor } from "../call/interceptor.js";
import type { Logger } from "../observability/logger.js";
import { createBreakerInterceptor, type BreakerInterceptorOptions } from "./breaker.js";
import { createClientDeadlineInterceptor, type ClientDeadlineInterceptorOptions } from "./deadline.js";
import { createLoggingInterceptor } from "./logging.js";
import { createRecoverInterceptor } from "./recover.js";
import { createRetryInterceptor, type RetryInterceptorOptions } from "./retry.js";
import { createValidationInterceptor } from "./validation.js";

/** Switches and settings of the default server chain. */
export interface DefaultServerInterceptorOptions {
  /** The server's logger, for access lines. @default each call's context.logger */
  readonly logger?: Logger;
  /** One access-log line per call. @default true */
  readonly logging?: boolean;
  /** Log successful calls too (else only failures). @default true */
  readonly logSuccess?: boolean;
  /** The share of successful calls logged (failures always are). @default 1 */
  readonly logSuccessSampleRate?: number;
  /** Put trace and span ids on access lines (when tracing is on). @default false */
  readonly traceIds?: boolean;
  /** Enforce the .proto validation rules. @default true */
  readonly validation?: boolean;
  /**
   * Who-may-call links (authentication, rate limiting, authorization), run
   * after recover and before validation: a refused caller learns nothing
   * about the request rules, and refusals are logged and counted. @default []
   */
  readonly guards?: readonly Interceptor[];
}

/**
 * The default server chain, outermost first: logging → recover → guards → validation.
 * Each link is switched by one option. (Deadlines are not a link: grpc-js
 * enforces the client's, and the server's own cap lives in createServer.)
 */
export function defaultServerInterceptors(options: DefaultServerInterceptorOptions = {}): Interceptor[] {
  const chain: Interceptor[] = [];
  if (options.logging ?? true) {
    chain.push(
      createLoggingInterceptor({
        logSuccess: options.logSuccess ?? true,
        successSampleRate: options.logSuccessSampleRate ?? 1,
        traceIds: options.traceIds ?? false,
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      }),
    );
  }
  chain.push(createRecoverInterceptor());
  chain.push(...(options.guards ?? []));
  if (options.validation ?? true) chain.push(createValidationInterceptor());
  return chain;
}

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
 * The client's resilience chain, outermost first: deadline → breaker → retry.
 * The deadline comes first so a call whose budget is spent is never counted by
 * the breaker, and the retries run inside it; the breaker sees one outcome per
 * call, not one per attempt, and its fast failures are not retried.
 * `createClient` installs it unless told not to; the breakers and the retry
 * budget it creates belong to that client.
 */
export function defaultClientInterceptors(options: DefaultClientInterceptorsOptions = {}): Interceptor[] {
  const chain: Interceptor[] = [];
  if (options.deadline !== false) chain.push(createClientDeadlineInterceptor(options.deadline));
  if (options.breaker !== false) chain.push(createBreakerInterceptor(options.breaker));
  if (options.retry !== false) chain.push(createRetryInterceptor(options.retry));
  return chain;
}
