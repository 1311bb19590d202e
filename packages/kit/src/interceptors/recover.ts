import { Code, RpcError } from "../errors/rpc-error.js";
import { observeStream, type CallRequest, type Interceptor } from "../call/interceptor.js";
import { toRpcError } from "../errors/to-rpc-error.js";

/**
 * Catches everything a handler throws (also inside response streams): RpcErrors
 * pass; anything else is logged with its stack and becomes INTERNAL with a
 * generic message, so no stack trace or internal detail reaches a client. An
 * error raised after the call was already aborted reports the abort's reason
 * (CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE on shutdown).
 */
export function createRecoverInterceptor(): Interceptor {
  return (next) => async (request) => {
    const recover = (error: unknown): RpcError => convert(request, error);
    try {
      const response = await next(request);
      if (!response.stream) return response;
      return { stream: true, messages: observeStream(response.messages, () => undefined, recover) };
    } catch (error) {
      throw recover(error);
    }
  };
}

function convert(request: CallRequest, error: unknown): RpcError {
  const { signal, logger } = request.context;
  if (!(error instanceof RpcError) && signal.aborted && signal.reason instanceof RpcError) {
    return signal.reason;
  }
  const rpcError = toRpcError(error);
  if (rpcError.code === Code.INTERNAL && rpcError.cause !== undefined) {
    logger.error({ error: rpcError.cause }, "handler failed");
  }
  return rpcError;
}
