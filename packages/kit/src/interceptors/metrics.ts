import type { DescMethod } from "@bufbuild/protobuf";
import { observeStream, type Interceptor, type MessageData } from "../call/interceptor.js";
import type { CallContext } from "../call/call-context.js";
import { Code } from "../errors/code.js";
import { toRpcError } from "../errors/to-rpc-error.js";
import { methodLabels, type GrpcMetrics, type MethodSeries } from "../observability/grpc-metrics.js";

/** Options of {@link createMetricsInterceptor}. */
export interface MetricsInterceptorOptions {
  /** Clock for handling times, in milliseconds. @default performance.now */
  readonly now?: () => number;
  /**
   * The trace id to attach as an exemplar to a call's latency observation, if
   * the call is traced and sampled. @default none (no exemplars)
   */
  readonly traceIdOf?: (context: CallContext) => string | undefined;
}

/**
 * go-grpc-prometheus' metrics for every call, server and client side (the
 * side picks the family): started, handled by code, messages received and
 * sent, handling time — with the call's trace id as an exemplar when it has
 * one. A malformed request counts like any other call (INVALID_ARGUMENT): it is
 * decoded inside the chain.
 */
export function createMetricsInterceptor(metrics: GrpcMetrics, options: MetricsInterceptorOptions = {}): Interceptor {
  const now = options.now ?? (() => performance.now());
  const traceIdOf = metrics.exemplars ? options.traceIdOf : undefined;
  const bound = { server: new WeakMap<DescMethod, MethodSeries>(), client: new WeakMap<DescMethod, MethodSeries>() };

  return (next) => async (request) => {
    const { context, method } = request;
    const isServer = context.side === "server";
    const cache = isServer ? bound.server : bound.client;
    let series = cache.get(method);
    if (series === undefined) {
      series = (isServer ? metrics.server : metrics.client).series(methodLabels(method));
      cache.set(method, series);
    }
    const calls = series;
    calls.start();
    const started = now();
    // Requests flow in on the server and out on the client; responses the other way.
    const countRequest = isServer ? () => calls.received() : () => calls.sent();
    const countResponse = isServer ? () => calls.sent() : () => calls.received();
    const finish = (thrown: unknown, streamed = false): void => {
      const signal = streamed ? context.signal : undefined;
      const error = thrown === undefined && signal?.aborted === true ? (signal.reason as unknown) : thrown;
      calls.handled(error === undefined ? Code.OK : toRpcError(error).code, (now() - started) / 1000, traceIdOf?.(context));
    };

    let counted = request;
    if (request.stream) counted = { ...request, messages: counting(request.messages, countRequest) };
    else countRequest();
    let response;
    try {
      response = await next(counted);
    } catch (error) {
      finish(error);
      throw error;
    }
    if (!response.stream) {
      countResponse();
      finish(undefined);
      return response;
    }
    return { stream: true, messages: observeStream(counting(response.messages, countResponse), (error) => finish(error, true)) };
  };
}

async function* counting(messages: AsyncIterable<MessageData>, count: () => void): AsyncIterable<MessageData> {
  for await (const message of messages) {
    count();
    yield message;
  }
}
