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
