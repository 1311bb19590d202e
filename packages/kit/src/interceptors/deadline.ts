import type { DescMethod } from "@bufbuild/protobuf";
import { Code, RpcError } from "../errors/rpc-error.js";
import { abortedError } from "../errors/to-rpc-error.js";
import { withCallSettings } from "../call/call-context.js";
import { currentCallContext } from "../call/call-context-storage.js";
import type { Interceptor } from "../call/interceptor.js";
import { canAbort } from "../client/client-call.js";

/** The request header that carries the request id from call to call. */
export const REQUEST_ID_HEADER = "x-request-id";

/** Options of {@link createClientDeadlineInterceptor}. */
export interface ClientDeadlineInterceptorOptions {
  /**
   * Timeout of calls with a single response (unary, client streaming) that no
   * per-method entry covers. Response streams are subscriptions (watches) and
   * get none by default. 0 disables it.
   * @default 5000
   */
  readonly defaultTimeoutMs?: number;
  /**
   * Per-method timeouts, for any kind of call, keyed by the method's
   * `package.Service/Method`, `Service/Method`, proto name (`GetUser`) or
   * localName (`getUser`), the most specific winning. 0 means none.
   * @default {}
   */
  readonly methodTimeoutsMs?: Readonly<Record<string, number>>;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Gives every client call a deadline and ties it to the server call it is made
 * for, if any (Go's context propagation, through `currentCallContext()`): the
 * caller's deadline, else the method's timeout (or the default), capped by the
 * parent call's; the call is cancelled when either the caller or the parent
 * is. A call whose budget is already spent fails with DEADLINE_EXCEEDED without
 * being sent, so a slow chain stops at the first hop that notices. The parent's
 * request id is passed on in `x-request-id` so logs join up across services.
 */
export function createClientDeadlineInterceptor(options: ClientDeadlineInterceptorOptions = {}): Interceptor {
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 5000;
  const methodTimeoutsMs = options.methodTimeoutsMs ?? {};
  const now = options.now ?? Date.now;

  // Resolved once per method: the lookup builds four keys, too much per call.
  const timeouts = new WeakMap<DescMethod, number | undefined>();
  const timeoutOf = (method: DescMethod): number | undefined => {
    if (timeouts.has(method)) return timeouts.get(method);
    const timeout = resolveTimeout(method);
    timeouts.set(method, timeout);
    return timeout;
  };
  const resolveTimeout = (method: DescMethod): number | undefined => {
    const configured = [`${method.parent.typeName}/${method.name}`, `${method.parent.name}/${method.name}`, method.name, method.localName]
      .map((key) => (Object.hasOwn(methodTimeoutsMs, key) ? methodTimeoutsMs[key] : undefined))
      .find((value) => value !== undefined);
    const singleResponse = method.methodKind === "unary" || method.methodKind === "client_streaming";
    const timeout = configured ?? (singleResponse ? defaultTimeoutMs : 0);
    return timeout > 0 ? timeout : undefined;
  };

  return (next) => async (request) => {
    const { context } = request;
    // A client-side link: server calls pass through.
    if (context.side !== "client") return next(request);
    const at = now();
    const parent = context.parent ?? currentCallContext();
    const timeout = timeoutOf(request.method);
    // The caller's own deadline is the most specific: the method's timeout (or the
    // default) applies only when it set none; a parent call's deadline caps both.
    const own = context.deadline ?? (timeout === undefined ? undefined : at + timeout);
    const deadline = earliest(own, parent?.deadline);
    const callerSignal = context.signal.aborted || ownSignal(context) ? context.signal : undefined;
    const signals = [callerSignal, parent?.signal].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];

    if (signal?.aborted) throw abortedError(signal, "call cancelled before it was sent");
    if (deadline !== undefined && deadline <= at) {
      const inherited = parent?.deadline !== undefined && parent.deadline === deadline;
      throw new RpcError(
        Code.DEADLINE_EXCEEDED,
        inherited ? "the deadline of the call being handled has passed; not sending" : "deadline passed before the call was sent",
      );
    }
    if (parent !== undefined && !context.requestHeader.has(REQUEST_ID_HEADER))
      context.requestHeader.set(REQUEST_ID_HEADER, parent.requestId);
    if (deadline === context.deadline && (signal === undefined || signal === context.signal)) return next(request);
    return next({ ...request, context: withCallSettings(context, { deadline, ...(signal === undefined ? {} : { signal }) }) });
  };
}

/** Whether the call has a signal of its own (not the never-firing default). */
function ownSignal(context: { readonly signal: AbortSignal }): boolean {
  return canAbort(context.signal);
}

function earliest(...deadlines: (number | undefined)[]): number | undefined {
  const set = deadlines.filter((d): d is number => d !== undefined);
  return set.length === 0 ? undefined : Math.min(...set);
}
