import type { Interceptor } from "../interceptors/interceptor.js";
import { createDeadlineInterceptor } from "../interceptors/deadline.js";
import { createLoggingInterceptor } from "../interceptors/logging.js";
import { createRecoverInterceptor } from "../interceptors/recover.js";
import { createValidationInterceptor } from "../interceptors/validation.js";

/** Switches and settings of the default server chain. */
export interface DefaultServerInterceptorOptions {
  /** One access-log line per call. @default true */
  readonly logging?: boolean;
  /** Log successful calls too (else only failures). @default true */
  readonly logSuccess?: boolean;
  /** Cap on single-response calls, in ms; 0 disables. @default 30_000 */
  readonly maxCallMs?: number;
  /** Enforce the .proto validation rules. @default true */
  readonly validation?: boolean;
}

/**
 * The default server chain, outermost first: logging → recover → deadline →
 * validation. Each link is switched by one option.
 */
export function defaultServerInterceptors(options: DefaultServerInterceptorOptions = {}): Interceptor[] {
  const chain: Interceptor[] = [];
  if (options.logging ?? true) chain.push(createLoggingInterceptor({ logSuccess: options.logSuccess ?? true }));
  chain.push(createRecoverInterceptor());
  if ((options.maxCallMs ?? 30_000) > 0) chain.push(createDeadlineInterceptor({ maxCallMs: options.maxCallMs ?? 30_000 }));
  if (options.validation ?? true) chain.push(createValidationInterceptor());
  return chain;
}
