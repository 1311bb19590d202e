import { Code, RpcError } from "../errors/rpc-error.js";
import type { Interceptor } from "./interceptor.js";

/** Options of {@link createDeadlineInterceptor}. */
export interface DeadlineInterceptorOptions {
  /**
   * The longest a call with a single response (unary, client streaming) may run
   * on this server, whatever deadline the client sent (or none). Response
   * streams are subscriptions and are not capped. 0 disables the cap.
   * @default 30_000
   */
  readonly maxCallMs?: number;
}

/**
 * Bounds how long a call may run on this server. The client's own deadline is
 * enforced by grpc-js and fires the context's signal; this caps calls that came
 * without one, so a forgotten deadline cannot pin a handler forever.
 */
export function createDeadlineInterceptor(options: DeadlineInterceptorOptions = {}): Interceptor {
  const maxCallMs = options.maxCallMs ?? 30_000;
  return (next) => async (request) => {
    const { methodKind } = request.method;
    const singleResponse = methodKind === "unary" || methodKind === "client_streaming";
    if (maxCallMs <= 0 || !singleResponse) return next(request);
    const { context } = request;
    const clientBudget = context.deadline === undefined ? Number.POSITIVE_INFINITY : context.deadline - Date.now();
    if (clientBudget <= maxCallMs) return next(request);

    const controller = new AbortController();
    const reason = new RpcError(Code.DEADLINE_EXCEEDED, `call exceeded the server's limit of ${maxCallMs} ms`);
    const timer = setTimeout(() => controller.abort(reason), maxCallMs);
    const signal = AbortSignal.any([context.signal, controller.signal]);
    const capped = { ...request, context: { ...context, signal, deadline: Date.now() + maxCallMs } };
    try {
      return await Promise.race([
        next(capped),
        new Promise<never>((_, reject) => {
          signal.addEventListener("abort", () => reject(signal.reason as unknown), { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
}
