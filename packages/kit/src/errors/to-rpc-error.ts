import { Code, RpcError } from "../errors/rpc-error.js";

/** The message clients see for an unexpected failure; details stay in the log. */
export const INTERNAL_ERROR_MESSAGE = "internal error";

/**
 * Turns anything thrown into an RpcError. RpcErrors pass through; an abort
 * reason that is an RpcError (cancel, deadline, shutdown) is used as is; any
 * other error becomes INTERNAL with a generic message.
 */
export function toRpcError(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  return new RpcError(Code.INTERNAL, INTERNAL_ERROR_MESSAGE, { cause: error });
}

/** The status code of a failed call; errors that are not RpcErrors count as UNKNOWN. */
export function codeOf(error: unknown): Code {
  return error instanceof RpcError ? error.code : Code.UNKNOWN;
}

/**
 * The error for a call stopped by its signal. A server call's signal carries an
 * RpcError saying why (cancelled, deadline, shutdown), which is passed on.
 */
export function abortedError(signal: AbortSignal, message: string, cause?: unknown): RpcError {
  const reason: unknown = signal.reason;
  return reason instanceof RpcError ? reason : new RpcError(Code.CANCELLED, message, { cause: cause ?? reason });
}
