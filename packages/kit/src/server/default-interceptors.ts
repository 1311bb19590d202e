import type { Interceptor } from "../interceptors/interceptor.js";
import type { Logger } from "../observability/logger.js";
import { createLoggingInterceptor } from "../interceptors/logging.js";
import { createRecoverInterceptor } from "../interceptors/recover.js";
import { createValidationInterceptor } from "../interceptors/validation.js";

/** Switches and settings of the default server chain. */
export interface DefaultServerInterceptorOptions {
  /** The server's logger, for access lines. @default each call's context.logger */
  readonly logger?: Logger;
  /** One access-log line per call. @default true */
  readonly logging?: boolean;
  /** Log successful calls too (else only failures). @default true */
  readonly logSuccess?: boolean;
  /** Enforce the .proto validation rules. @default true */
  readonly validation?: boolean;
}

/**
 * The default server chain, outermost first: logging → recover → validation.
 * Each link is switched by one option. (Deadlines are not a link: grpc-js
 * enforces the client's, and the server's own cap lives in createServer.)
 */
export function defaultServerInterceptors(options: DefaultServerInterceptorOptions = {}): Interceptor[] {
  const chain: Interceptor[] = [];
  if (options.logging ?? true) chain.push(createLoggingInterceptor({ logSuccess: options.logSuccess ?? true, ...(options.logger === undefined ? {} : { logger: options.logger }) }));
  chain.push(createRecoverInterceptor());
  if (options.validation ?? true) chain.push(createValidationInterceptor());
  return chain;
}
