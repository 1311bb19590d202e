import { codeName, Code } from "../errors/rpc-error.js";
import { observeStream, type Interceptor } from "./interceptor.js";
import { toRpcError } from "./to-rpc-error.js";

/** Options of {@link createLoggingInterceptor}. */
export interface LoggingInterceptorOptions {
  /** Log successful calls too, not only failures. @default true */
  readonly logSuccess?: boolean;
  /** Clock for durations, in milliseconds. @default performance.now */
  readonly now?: () => number;
}

/** Codes that mean the server, not the client, has a problem: logged at error. */
const SERVER_FAULTS = new Set<Code>([Code.INTERNAL, Code.UNKNOWN, Code.DATA_LOSS, Code.UNIMPLEMENTED]);

/**
 * One access-log line per call when it ends: method, gRPC code, duration,
 * peer and request id (from the call's bound logger). Client errors log at
 * warn, server faults at error.
 */
export function createLoggingInterceptor(options: LoggingInterceptorOptions = {}): Interceptor {
  const logSuccess = options.logSuccess ?? true;
  const now = options.now ?? (() => performance.now());
  return (next) => async (request) => {
    const started = now();
    const finish = (thrown: unknown): void => {
      // A stream abandoned because the call was cancelled ends without an error: report why.
      const { signal } = request.context;
      const error = thrown === undefined && signal.aborted ? signal.reason : thrown;
      const durationMs = Math.round((now() - started) * 1000) / 1000;
      if (error === undefined) {
        if (logSuccess) request.context.logger.info({ "grpc.code": "OK", "event.duration_ms": durationMs }, "call ok");
        return;
      }
      const rpcError = toRpcError(error);
      const fields = { "grpc.code": codeName(rpcError.code), "event.duration_ms": durationMs, "error.message": rpcError.message };
      if (SERVER_FAULTS.has(rpcError.code)) request.context.logger.error(fields, "call failed");
      else request.context.logger.warn(fields, "call failed");
    };
    let response;
    try {
      response = await next(request);
    } catch (error) {
      finish(error);
      throw error;
    }
    if (!response.stream) {
      finish(undefined);
      return response;
    }
    return { stream: true, messages: observeStream(response.messages, finish) };
  };
}
