import { Code, isBreakerFailure } from "../errors/code.js";
import { RpcError } from "../errors/rpc-error.js";
import { errorInfo } from "../errors/error-details.js";
import { codeOf } from "../errors/to-rpc-error.js";
import { observeStream, type CallRequest, type Interceptor } from "../call/interceptor.js";
import { methodName } from "../call/method-name.js";
import type { BreakerPermit } from "../resilience/circuit-breaker.js";
import { createBreakerRegistry, type BreakerRegistry } from "../resilience/breaker-registry.js";

/** Options of {@link createBreakerInterceptor}. */
export interface BreakerInterceptorOptions {
  /** Where the breakers live; pass your own to read their state. @default a new registry with default breaker options */
  readonly breakers?: BreakerRegistry;
  /** Which status codes count against the backend. @default {@link isBreakerFailure} */
  readonly isFailure?: (code: Code) => boolean;
  /** Which breaker a call uses. @default `${target} ${package.Service/Method}` */
  readonly keyOf?: (request: CallRequest) => string;
}

/**
 * Fails calls fast, with UNAVAILABLE and an ErrorInfo `CIRCUIT_OPEN`, while the
 * backend fails; one breaker per target and method by default, so one broken
 * method does not throttle the healthy ones. A response stream counts when it
 * ends, not when it starts: a stream that opens and then dies is a failure.
 */
export function createBreakerInterceptor(options: BreakerInterceptorOptions = {}): Interceptor {
  const breakers = options.breakers ?? createBreakerRegistry();
  const isFailure = options.isFailure ?? isBreakerFailure;
  const keyOf = options.keyOf ?? ((request: CallRequest) => `${request.context.target ?? ""} ${methodName(request.method)}`);
  const settle = (permit: BreakerPermit, error: unknown): void =>
    error !== undefined && isFailure(codeOf(error)) ? permit.reject() : permit.accept();

  return (next) => async (request) => {
    // A client-side link: server calls pass through.
    if (request.context.side !== "client") return next(request);
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

function openError(request: CallRequest, dropRatio: number): RpcError {
  const method = methodName(request.method);
  const target = request.context.target ?? "";
  return new RpcError(Code.UNAVAILABLE, `circuit breaker open for ${target} ${method}`, {
    details: [errorInfo("CIRCUIT_OPEN", "trellis.dev", { target, method, dropRatio: dropRatio.toFixed(3) })],
  });
}
