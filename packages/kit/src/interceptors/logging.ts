import { codeName, Code } from "../errors/rpc-error.js";
import { observeStream, type Interceptor } from "./interceptor.js";
import { toRpcError } from "./to-rpc-error.js";
import type { Logger } from "../observability/logger.js";
import type { ServerRequest } from "./interceptor.js";
import type { DescMethod } from "@bufbuild/protobuf";

/** Options of {@link createLoggingInterceptor}. */
export interface LoggingInterceptorOptions {
  /**
   * Where access lines go, with the call's method, request id and peer as
   * fields. @default each call's `context.logger` (a child logger per call,
   * which costs an allocation per call; the server passes its own logger)
   */
  readonly logger?: Logger;
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
  const base = options.logger;
  // One child logger per method, made once: its bindings are serialized once,
  // so each access line only serializes the per-call fields.
  const byMethod = new Map<DescMethod, Logger>();
  const methodLogger = (method: DescMethod, logger: Logger): Logger => {
    let child = byMethod.get(method);
    if (child === undefined) {
      child = logger.child({ "rpc.method": `${method.parent.typeName}/${method.name}` });
      byMethod.set(method, child);
    }
    return child;
  };
  const lineFor = (request: ServerRequest, fields: Record<string, unknown>): [Logger, Record<string, unknown>] => {
    if (base === undefined) return [request.context.logger, fields];
    fields["http.request.id"] = request.context.requestId;
    fields["client.address"] = request.context.peer;
    return [methodLogger(request.method, base), fields];
  };
  return (next) => async (request) => {
    const started = now();
    const finish = (thrown: unknown, streamed = false): void => {
      // A stream abandoned because the call was cancelled ends without an error: report why.
      // (Only streams: reading the signal of a unary call would allocate it for nothing.)
      const signal = streamed ? request.context.signal : undefined;
      const error = thrown === undefined && signal?.aborted === true ? (signal.reason as unknown) : thrown;
      const durationMs = Math.round((now() - started) * 1000) / 1000;
      if (error === undefined) {
        if (logSuccess) {
          const [logger, fields] = lineFor(request, { "grpc.code": "OK", "event.duration_ms": durationMs });
          logger.info(fields, "call ok");
        }
        return;
      }
      const rpcError = toRpcError(error);
      const [logger, fields] = lineFor(request, { "grpc.code": codeName(rpcError.code), "event.duration_ms": durationMs, "error.message": rpcError.message });
      if (SERVER_FAULTS.has(rpcError.code)) logger.error(fields, "call failed");
      else logger.warn(fields, "call failed");
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
    return { stream: true, messages: observeStream(response.messages, (error) => finish(error, true)) };
  };
}
