import {
  context as otelContext,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from "@opentelemetry/api";
import type { CallContext } from "../call/call-context.js";
import { createContextKey } from "../call/context-values.js";
import { readRequestHeader } from "../call/headers.js";
import { observeStream, type Interceptor, type MessageData } from "../call/interceptor.js";
import { Code } from "../errors/code.js";
import { toRpcError } from "../errors/to-rpc-error.js";

/** The call's span, for whatever runs inside the call (a client call's parent, log lines, exemplars). */
export const SPAN = createContextKey<Span | undefined>(undefined, { description: "trellis.span" });

/** The trace id of a call whose span is sampled, else undefined (no exemplar, no log field). */
export function sampledTraceId(context: Pick<CallContext, "values">): string | undefined {
  const span = context.values.get(SPAN);
  if (span === undefined) return undefined;
  const spanContext = span.spanContext();
  return (spanContext.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? spanContext.traceId : undefined;
}

// Extracting reads the call's headers one by one, without building its requestHeader.
const requestHeaderGetter: TextMapGetter<CallContext> = {
  keys: (carrier) => [...carrier.requestHeader.keys()],
  get: (carrier, key) => readRequestHeader(carrier, key),
};

const headerSetter: TextMapSetter<Headers> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** Server statuses that make a server span an error (OTel's gRPC conventions): the server's faults. */
const SERVER_SPAN_ERRORS: ReadonlySet<Code> = new Set([
  Code.UNKNOWN,
  Code.DEADLINE_EXCEEDED,
  Code.UNIMPLEMENTED,
  Code.INTERNAL,
  Code.UNAVAILABLE,
  Code.DATA_LOSS,
]);

/** Options of {@link createTracingInterceptor}. */
export interface TracingInterceptorOptions {
  /** Where spans come from (the SDK's, set up by runService from the OTEL_* variables). */
  readonly tracer: Tracer;
}

/**
 * One span per call with the OpenTelemetry RPC semantic conventions: on the
 * server a SERVER span continuing the W3C `traceparent` the client sent (the
 * handler runs in its context, so database spans and log lines join it); on
 * the client a CLIENT span, child of the server call it is made for
 * (`{ parent: context }`) or of the active span, whose `traceparent` goes out
 * in the request headers. Streams end their span when they end. Only
 * installed when tracing is configured: without it, no span, no context, no
 * cost.
 */
export function createTracingInterceptor(options: TracingInterceptorOptions): Interceptor {
  const { tracer } = options;
  return (next) => async (request) => {
    const { context, method } = request;
    const isServer = context.side === "server";
    const parent: Context = isServer
      ? propagation.extract(ROOT_CONTEXT, context, requestHeaderGetter)
      : parentContextOf(context);
    const span = tracer.startSpan(
      `${method.parent.typeName}/${method.name}`,
      {
        kind: isServer ? SpanKind.SERVER : SpanKind.CLIENT,
        attributes: {
          "rpc.system": "grpc",
          "rpc.service": method.parent.typeName,
          "rpc.method": method.name,
          ...(isServer ? { "client.address": context.peer } : { "server.address": context.target ?? context.peer }),
        },
      },
      parent,
    );
    context.values.set(SPAN, span);
    const active = trace.setSpan(parent, span);
    if (!isServer) propagation.inject(active, context.requestHeader, headerSetter);
    const end = (thrown: unknown, streamed = false): void => {
      const signal = streamed ? context.signal : undefined;
      const error = thrown === undefined && signal?.aborted === true ? (signal.reason as unknown) : thrown;
      const code = error === undefined ? Code.OK : toRpcError(error).code;
      span.setAttribute("rpc.grpc.status_code", code);
      if (code !== Code.OK && (!isServer || SERVER_SPAN_ERRORS.has(code))) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
      span.end();
    };
    let response;
    try {
      response = await otelContext.with(active, () => next(request));
    } catch (error) {
      end(error);
      throw error;
    }
    if (!response.stream) {
      end(undefined);
      return response;
    }
    return { stream: true, messages: observeStream(inContext(active, response.messages), (error) => end(error, true)) };
  };
}

/** A client call's parent: the server call it is made for, else whatever span is active. */
function parentContextOf(context: CallContext): Context {
  const parentSpan = context.parent?.values.get(SPAN);
  return parentSpan === undefined ? otelContext.active() : trace.setSpan(ROOT_CONTEXT, parentSpan);
}

/** Pulls each message inside `active`, so a streaming handler's own work joins the span. */
async function* inContext(active: Context, messages: AsyncIterable<MessageData>): AsyncIterable<MessageData> {
  const iterator = messages[Symbol.asyncIterator]();
  try {
    for (;;) {
      const result = await otelContext.with(active, () => iterator.next());
      if (result.done === true) return;
      yield result.value;
    }
  } finally {
    await iterator.return?.();
  }
}
