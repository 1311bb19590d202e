import { randomBytes } from "node:crypto";
import {
  context as otelContext,
  createContextKey as createOtelContextKey,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type SpanContext,
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

/** Set on a server call that began a trace and was not sampled: it runs without a span. */
const UNSAMPLED_ROOT = createContextKey<boolean>(false, { description: "trellis.unsampled-root" });

/**
 * On the OpenTelemetry context of a root span whose sampling the interceptor
 * already decided (yes): the SDK's sampler must then record it
 * (runService's sampler wraps the configured one), or a ratio would be applied twice.
 */
export const PRESAMPLED = createOtelContextKey("trellis.presampled");

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
  /**
   * Decides, before any span exists, whether a call that begins a trace (no
   * `traceparent` came with it, no parent span) is sampled: true with the root
   * sampler's probability. A root call that is not sampled then gets no span
   * and no context at all, and the calls it makes carry a not-sampled
   * `traceparent` so the services it calls do not start traces of their own.
   * Measured on a tiny unary call at 1 % sampling: creating and ending a
   * never-recorded span and running the handler in its context cost ~30 µs
   * of CPU per call (the SDK's ids and objects, their garbage, the context's
   * async hooks); deciding first, ~2 µs. (The catch: a line logged in an
   * unsampled root call has no trace.id.) @default every call gets a span and the SDK's sampler decides
   */
  readonly sampleRoot?: () => boolean;
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
  const { tracer, sampleRoot } = options;
  return (next) => async (request) => {
    const { context, method } = request;
    const isServer = context.side === "server";
    let parent: Context;
    if (isServer) {
      if (sampleRoot !== undefined && readRequestHeader(context, "traceparent") === undefined) {
        if (!sampleRoot()) {
          context.values.set(UNSAMPLED_ROOT, true);
          return next(request);
        }
        parent = ROOT_CONTEXT.setValue(PRESAMPLED, true);
      } else {
        parent = propagation.extract(ROOT_CONTEXT, context, requestHeaderGetter);
      }
    } else {
      parent = parentContextOf(context);
      if (sampleRoot !== undefined && trace.getSpanContext(parent) === undefined) {
        const unsampled = context.parent?.values.get(UNSAMPLED_ROOT) === true || !sampleRoot();
        parent = unsampled ? trace.setSpanContext(ROOT_CONTEXT, notSampled()) : parent.setValue(PRESAMPLED, true);
      }
    }
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

/**
 * A remote, not-sampled span context with fresh ids: the parent of a client
 * call made outside any sampled trace, so the callee's parent-based sampler
 * records nothing and the `traceparent` that goes out says so (flags 00).
 */
function notSampled(): SpanContext {
  const ids = randomBytes(24).toString("hex");
  return { traceId: ids.slice(0, 32), spanId: ids.slice(32), traceFlags: TraceFlags.NONE, isRemote: true };
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
