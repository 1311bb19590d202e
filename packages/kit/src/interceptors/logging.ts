import { codeName, isServerFault } from "../errors/code.js";
import { observeStream, type CallRequest, type Interceptor } from "../call/interceptor.js";
import { methodName } from "../call/method-name.js";
import { toRpcError } from "../errors/to-rpc-error.js";
import type { Logger } from "../observability/logger.js";
import type { DescMethod } from "@bufbuild/protobuf";
import { createDeferredQueue } from "../observability/after-responses.js";
import { SPAN } from "../observability/tracing.js";

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
  /**
   * The share of successful calls whose line is written, when `logSuccess`
   * (failures are always written): at high rates, a sample is enough to see
   * traffic and the failures are what matter. @default 1
   */
  readonly successSampleRate?: number;
  /** Uniform in [0, 1), for sampling. @default Math.random */
  readonly random?: () => number;
  /**
   * Put the call's `trace.id` and `span.id` on its line (lines are written
   * after the call's turn, outside its trace context). Off unless tracing is
   * on: reading a call's values costs an allocation. @default false
   */
  readonly traceIds?: boolean;
  /** Clock for durations, in milliseconds. @default performance.now */
  readonly now?: () => number;
  /**
   * Runs the building and writing of access lines. @default a queue run after
   * the responses of the turn went out (createDeferredQueue), so a call's own
   * access line never delays its response; measured one call at a time through
   * ghz, building it before the response cost 10–15 µs of latency per call
   */
  readonly defer?: (write: () => void) => void;
}

/**
 * One access-log line per call when it ends: method, gRPC code, duration,
 * peer and request id (from the call's bound logger). Client errors log at
 * warn, server faults at error. The outcome and duration are taken when the
 * call ends; the line is built and written a little later (see `defer`).
 */
export function createLoggingInterceptor(options: LoggingInterceptorOptions = {}): Interceptor {
  const logSuccess = options.logSuccess ?? true;
  const sampleRate = options.successSampleRate ?? 1;
  const random = options.random ?? Math.random;
  const traceIds = options.traceIds ?? false;
  const now = options.now ?? (() => performance.now());
  const base = options.logger;
  const defer = options.defer ?? createDeferredQueue().defer;
  // One child logger per method, made once: its bindings are serialized once,
  // so each access line only serializes the per-call fields.
  const byMethod = new Map<DescMethod, Logger>();
  const methodLogger = (method: DescMethod, logger: Logger): Logger => {
    let child = byMethod.get(method);
    if (child === undefined) {
      child = logger.child({ "rpc.method": methodName(method) });
      byMethod.set(method, child);
    }
    return child;
  };
  const write = (request: CallRequest, level: "info" | "warn" | "error", fields: Record<string, unknown>, message: string): void => {
    if (base !== undefined) {
      fields["http.request.id"] = request.context.requestId;
      fields["client.address"] = request.context.peer;
    }
    const span = traceIds ? request.context.values.get(SPAN) : undefined;
    if (span !== undefined) {
      const spanContext = span.spanContext();
      fields["trace.id"] = spanContext.traceId;
      fields["span.id"] = spanContext.spanId;
    }
    // Without a base logger, the call's own (a child logger per call) carries those fields.
    const logger = base === undefined ? request.context.logger : methodLogger(request.method, base);
    defer(() => logger[level](fields, message));
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
        if (logSuccess && (sampleRate >= 1 || random() < sampleRate))
          write(request, "info", { "grpc.code": "OK", "event.duration_ms": durationMs }, "call ok");
        return;
      }
      const rpcError = toRpcError(error);
      const fields = { "grpc.code": codeName(rpcError.code), "event.duration_ms": durationMs, "error.message": rpcError.message };
      write(request, isServerFault(rpcError.code) ? "error" : "warn", fields, "call failed");
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
