import type { DescMethod } from "@bufbuild/protobuf";
import type { Metadata } from "@grpc/grpc-js";
import type { Logger } from "../observability/logger.js";

/** What a handler and every interceptor know about the call in progress. */
export interface CallContext {
  readonly method: DescMethod;
  /**
   * Fires when the client cancels, the deadline passes, or the server gives up
   * on the call during shutdown; `signal.reason` is an RpcError saying which.
   */
  readonly signal: AbortSignal;
  /** The deadline as epoch milliseconds, if the client set one. */
  readonly deadline: number | undefined;
  /** The request headers. */
  readonly requestMetadata: Metadata;
  /** The request id: the client's `x-request-id`, else a generated one. */
  readonly requestId: string;
  /** The client's address. */
  readonly peer: string;
  /** A logger bound to this call (method, request id). */
  readonly logger: Logger;
  /** Trailers sent with the status; handlers may add to them. */
  readonly responseTrailers: Metadata;
}

/** Milliseconds left before the call's deadline; Infinity without one. */
export function remainingMs(context: Pick<CallContext, "deadline">, now: () => number = Date.now): number {
  return context.deadline === undefined ? Number.POSITIVE_INFINITY : Math.max(0, context.deadline - now());
}
