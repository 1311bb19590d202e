import type { DescMethod } from "@bufbuild/protobuf";
import type { Counter } from "prom-client";
import { observeStream, type Interceptor, type MessageData } from "../call/interceptor.js";
import type { CallContext } from "../call/call-context.js";
import { Code } from "../errors/code.js";
import { toRpcError } from "../errors/to-rpc-error.js";
import { goCodeName, grpcType, type GrpcMetrics, type SideMetrics } from "../observability/grpc-metrics.js";

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

/** A method's label children, bound once: labels are hashed per call otherwise. */
interface Bound {
  readonly labels: { readonly grpc_type: string; readonly grpc_service: string; readonly grpc_method: string };
  readonly started: { inc(): void };
  readonly received: { inc(): void };
  readonly sent: { inc(): void };
  readonly handling: { observe(value: number): void };
  readonly handled: Map<Code, { inc(): void }>;
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
  const bound = { server: new WeakMap<DescMethod, Bound>(), client: new WeakMap<DescMethod, Bound>() };
  const bind = (side: SideMetrics, method: DescMethod): Bound => {
    const labels = { grpc_type: grpcType(method), grpc_service: method.parent.typeName, grpc_method: method.name };
    return {
      labels,
      started: side.started.labels(labels),
      received: side.msgReceived.labels(labels),
      sent: side.msgSent.labels(labels),
      handling: side.handling.labels(labels),
      handled: new Map(),
    };
  };

  return (next) => async (request) => {
    const { context, method } = request;
    const isServer = context.side === "server";
    const family = isServer ? metrics.server : metrics.client;
    const cache = isServer ? bound.server : bound.client;
    let b = cache.get(method);
    if (b === undefined) {
      b = bind(family, method);
      cache.set(method, b);
    }
    const calls = b;
    calls.started.inc();
    const started = now();
    // Requests flow in on the server and out on the client; responses the other way.
    const requests = isServer ? calls.received : calls.sent;
    const responses = isServer ? calls.sent : calls.received;
    const finish = (thrown: unknown, streamed = false): void => {
      const signal = streamed ? context.signal : undefined;
      const error = thrown === undefined && signal?.aborted === true ? (signal.reason as unknown) : thrown;
      const code = error === undefined ? Code.OK : toRpcError(error).code;
      let handled = calls.handled.get(code);
      if (handled === undefined) {
        handled = family.handled.labels({ ...calls.labels, grpc_code: goCodeName(code) });
        calls.handled.set(code, handled);
      }
      handled.inc();
      const seconds = (now() - started) / 1000;
      const traceId = traceIdOf?.(context);
      if (traceId === undefined) calls.handling.observe(seconds);
      // prom-client types exemplar labels as the metric's own; trace_id is an exemplar-only label.
      else family.handling.observe({ labels: calls.labels, value: seconds, exemplarLabels: { trace_id: traceId } as never });
    };

    let counted = request;
    if (request.stream) counted = { ...request, messages: counting(request.messages, requests) };
    else requests.inc();
    let response;
    try {
      response = await next(counted);
    } catch (error) {
      finish(error);
      throw error;
    }
    if (!response.stream) {
      responses.inc();
      finish(undefined);
      return response;
    }
    return { stream: true, messages: observeStream(counting(response.messages, responses), (error) => finish(error, true)) };
  };
}

async function* counting(messages: AsyncIterable<MessageData>, counter: Pick<Counter, "inc">): AsyncIterable<MessageData> {
  for await (const message of messages) {
    counter.inc();
    yield message;
  }
}
