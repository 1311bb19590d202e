import type { DescMethod } from "@bufbuild/protobuf";
import type { Logger } from "../observability/logger.js";
import type { ContextValues } from "./context-values.js";

/**
 * What a handler and every interceptor know about a call, on either side: the
 * same shape for a call this process serves (`side: "server"`) and one it
 * makes (`side: "client"`), so that an interceptor for a concern both sides
 * share (logging, metrics, tracing, auth propagation) is written once.
 */
export interface CallContext {
  /** "server": a call this process handles; "client": a call it makes. */
  readonly side: "server" | "client";
  readonly method: DescMethod;
  /**
   * Fires when the call is cancelled, its deadline passes, or (server) the
   * server gives up on it during shutdown; `signal.reason` is an RpcError
   * saying which.
   */
  readonly signal: AbortSignal;
  /** The deadline as epoch milliseconds, if there is one. */
  readonly deadline: number | undefined;
  /**
   * Request headers (gRPC metadata): on the server what the client sent; on
   * the client what will be sent, settable until the call starts.
   */
  readonly requestHeader: Headers;
  /**
   * Response headers: set by the server's handler or interceptors (sent with
   * the first response message, or with the status); read by the client.
   */
  readonly responseHeader: Headers;
  /** Response trailers, sent with the status: set by the server, read by the client. */
  readonly responseTrailer: Headers;
  /**
   * Server calls: sends the response headers set so far now rather than with
   * the first response message (later changes to `responseHeader` are not
   * sent). A response stream that may stay quiet (a change feed, a chat room)
   * calls it once it is set up, so that its client — a browser behind a proxy
   * too — learns the stream is live before anything happens. Absent on client
   * calls; idempotent.
   */
  readonly sendHeader?: () => void;
  /** Typed per-call values (see `createContextKey`). */
  readonly values: ContextValues;
  /** The request id: the `x-request-id` header, else (server) a generated one. */
  readonly requestId: string;
  /** The other end: the client's address on the server, the channel target on the client. */
  readonly peer: string;
  /** A logger bound to this call (method, request id, peer). */
  readonly logger: Logger;
  /** Client calls: the channel target (`etcd:///user`), for per-target state such as breakers. */
  readonly target?: string;
  /** Client calls made while handling a server call: that call (its deadline, cancellation and request id carry over). */
  readonly parent?: CallContext;
}

/** What an interceptor may change about a call as it passes it on. */
export interface CallSettings {
  readonly deadline?: number | undefined;
  readonly signal?: AbortSignal;
}

/**
 * The same call with another deadline or signal (the client deadline
 * interceptor narrows them); everything else is the original's, live.
 */
export function withCallSettings(context: CallContext, settings: CallSettings): CallContext {
  const deadline = "deadline" in settings ? settings.deadline : context.deadline;
  const signal = settings.signal ?? context.signal;
  return {
    get side() {
      return context.side;
    },
    get method() {
      return context.method;
    },
    signal,
    deadline,
    get requestHeader() {
      return context.requestHeader;
    },
    get responseHeader() {
      return context.responseHeader;
    },
    get responseTrailer() {
      return context.responseTrailer;
    },
    get sendHeader() {
      return context.sendHeader;
    },
    get values() {
      return context.values;
    },
    get requestId() {
      return context.requestId;
    },
    get peer() {
      return context.peer;
    },
    get logger() {
      return context.logger;
    },
    get target() {
      return context.target;
    },
    get parent() {
      return context.parent;
    },
  };
}

/** Milliseconds left before the call's deadline; Infinity without one. */
export function remainingMs(context: Pick<CallContext, "deadline">, now: () => number = Date.now): number {
  return context.deadline === undefined ? Number.POSITIVE_INFINITY : Math.max(0, context.deadline - now());
}
