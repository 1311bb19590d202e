import { Code, RpcError } from "../errors/rpc-error.js";
import { errorInfo } from "../errors/error-details.js";
import type { ClientInterceptor, ClientRequest } from "../interceptors/client-interceptor.js";
import { observeStream } from "../interceptors/interceptor.js";
import type { BreakerPermit } from "./circuit-breaker.js";
import { createBreakerRegistry, type BreakerRegistry } from "./breaker-registry.js";
import { codeOf, isBreakerFailure, methodPath } from "./status.js";

/** Options of {@link createBreakerInterceptor}. */
export interface BreakerInterceptorOptions {
  /** Where the breakers live; pass your own to read their state. @default a new registry with default breaker options */
  readonly breakers?: BreakerRegistry;
  /** Which status codes count against the backend. @default {@link isBreakerFailure} */
  readonly isFailure?: (code: Code) => boolean;
  /** Which breaker a call uses. @default `${request.target} ${package.Service/Method}` */
  readonly keyOf?: (request: ClientRequest) => string;
}

/**
 * Fails calls fast, with UNAVAILABLE and an ErrorInfo `CIRCUIT_OPEN`, while the
 * backend fails; one breaker per target and method by default, so one broken
 * method does not throttle the healthy ones. A response stream counts when it
 * ends, not when it starts: a stream that opens and then dies is a failure.
 */
export function createBreakerInterceptor(options: BreakerInterceptorOptions = {}): ClientInterceptor {
  const breakers = options.breakers ?? createBreakerRegistry();
  const isFailure = options.isFailure ?? isBreakerFailure;
  const keyOf = options.keyOf ?? ((request: ClientRequest) => `${request.target} ${methodPath(request.method)}`);
  const settle = (permit: BreakerPermit, error: unknown): void =>
    error !== undefined && isFailure(codeOf(error)) ? permit.reject() : permit.accept();

  return (next) => async (request) => {
    const key = keyOf(request);
    const breaker = breakers.get(key);
    const permit = breaker.allow();
    if (permit === undefined) throw openError(request, breaker.snapshot().dropRatio);
    let response;
    try {
      response = await next(request);
    } catch (error) {
      settle(permit, error);
      throw error;
    }
    if (!response.stream) {
      permit.accept();
      return response;
    }
    return { stream: true, messages: observeStream(response.messages, (error) => settle(permit, error)) };
  };
}

function openError(request: ClientRequest, dropRatio: number): RpcError {
  const method = methodPath(request.method);
  return new RpcError(Code.UNAVAILABLE, `circuit breaker open for ${request.target} ${method}`, {
    details: [errorInfo("CIRCUIT_OPEN", "trellis.dev", { target: request.target, method, dropRatio: dropRatio.toFixed(3) })],
  });
}
