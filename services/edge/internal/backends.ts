import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { ROOT_CONTEXT, context as otelContext, propagation, type TextMapGetter } from "@opentelemetry/api";
import type { CallOptions, Interceptor } from "@trellis/kit";
import type { CallContext } from "@trellis/kit/call";
import { createContextKey, createContextValues } from "@trellis/kit/call";
import { Code, RpcError, encodeStatusDetails } from "@trellis/kit/errors";

/** A failed backend call, with what the protocols relay: code, message, the raw google.rpc.Status and the trailers. */
export interface CallFailure {
  readonly code: Code;
  readonly message: string;
  /** The serialized google.rpc.Status (`grpc-status-details-bin`), when the backend or the kit sent details. */
  readonly details: Uint8Array | undefined;
  /** The backend's response headers (custom metadata), if any arrived. */
  readonly header: Headers;
  /** The backend's trailers without grpc-status, grpc-message and grpc-status-details-bin. */
  readonly trailer: Headers;
}

/** What a backend call is made with. */
export interface BackendCallOptions {
  /** Request metadata to forward (the caller's headers, already filtered). */
  readonly headers: Headers;
  /** The caller's deadline, relative. */
  readonly timeoutMs: number | undefined;
  /** Aborted when the caller goes away: the backend call is cancelled. */
  readonly signal: AbortSignal;
}

/** A unary call's outcome. */
export type UnaryOutcome =
  | { readonly ok: true; readonly message: Uint8Array; readonly header: Headers; readonly trailer: Headers }
  | { readonly ok: false; readonly failure: CallFailure };

/** A server-streaming call: its messages, pulled one at a time (pulling nothing pauses the backend). */
export interface StreamCall {
  /** The next message; `undefined` at the end. Throws nothing: a failure ends the stream and is in `failure`. */
  next(): Promise<Uint8Array | undefined>;
  /** The backend's response headers once they arrived (see `whenHeader`), or once the first message or the end has been pulled. */
  header(): Headers;
  /**
   * Calls `listener` once when the backend's response headers arrive before its first
   * message (a quiet stream saying it is set up); never for a trailers-only response.
   */
  whenHeader(listener: () => void): void;
  /** The trailers, once `next()` returned undefined. */
  trailer(): Headers;
  /** Why the stream ended, once `next()` returned undefined and the stream failed. */
  readonly failure: CallFailure | undefined;
  /** Cancels the backend call (idempotent). */
  cancel(): void;
}

/** The methods the edge can reach, by path. */
export interface Backends {
  /** The method at `/<package.Service>/<Method>`, or undefined when no route serves it. */
  method(path: string): DescMethod | undefined;
  /** The service named `typeName` if the edge routes it. */
  service(typeName: string): DescService | undefined;
  /** Every routed service. */
  readonly services: readonly DescService[];
  unary(method: DescMethod, message: Uint8Array, options: BackendCallOptions): Promise<UnaryOutcome>;
  serverStream(method: DescMethod, message: Uint8Array, options: BackendCallOptions): StreamCall;
}

/** One routed service and its client (from runService's `client`, or any kit client). */
export interface BackendRoute {
  readonly service: DescService;
  /** The kit client for the service (typed by the service; called with bytes). */
  readonly client: object;
}

type RawUnary = (message: Uint8Array, options: CallOptions) => Promise<Uint8Array>;
type RawStream = (message: Uint8Array, options: CallOptions) => AsyncIterable<Uint8Array>;

// Where the capture interceptor leaves each call's context, for response headers mid-stream.
const CAPTURE = createContextKey<{ context: CallContext | undefined } | undefined>(undefined, { description: "edge capture" });

/**
 * The client interceptor the edge's clients need: it hands each call's context
 * to the edge, whose response headers a stream relays before its end (the
 * client's onHeader fires only at the end).
 */
export const captureContext: Interceptor = (next) => (request) => {
  const slot = request.context.values.get(CAPTURE);
  if (slot !== undefined) slot.context = request.context;
  return next(request);
};

const RESERVED_TRAILERS = new Set(["grpc-status", "grpc-message", "grpc-status-details-bin"]);

const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

/**
 * Routes by fully-qualified service name to kit clients and calls them with
 * the caller's message bytes as they are (the kit's client sends bytes
 * unencoded and returns bytes), so fields the edge does not know survive.
 * The caller's traceparent becomes the parent of the client span.
 */
export function createBackends(routes: readonly BackendRoute[]): Backends {
  const methods = new Map<string, { readonly method: DescMethod; readonly call: RawUnary | RawStream }>();
  const services = new Map<string, DescService>();
  for (const { service, client } of routes) {
    services.set(service.typeName, service);
    for (const method of service.methods) {
      const call = (client as Record<string, RawUnary | RawStream>)[method.localName];
      if (call !== undefined) methods.set(`/${service.typeName}/${method.name}`, { method, call });
    }
  }
  const callOptions = (options: BackendCallOptions, slot?: { context: CallContext | undefined }): CallOptions => ({
    headers: options.headers,
    signal: options.signal,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(slot === undefined ? {} : { values: valuesWith(slot) }),
  });
  const inTrace = <T>(headers: Headers, run: () => T): T =>
    headers.has("traceparent") ? otelContext.with(propagation.extract(ROOT_CONTEXT, headers, headerGetter), run) : run();

  return {
    method: (path) => methods.get(path)?.method,
    service: (typeName) => services.get(typeName),
    services: [...services.values()],
    async unary(method, message, options) {
      const entry = methods.get(`/${method.parent.typeName}/${method.name}`)!;
      let header = new Headers();
      let trailer = new Headers();
      try {
        const reply = await inTrace(options.headers, () =>
          (entry.call as RawUnary)(message, {
            ...callOptions(options),
            onHeader: (h) => (header = h),
            onTrailer: (t) => (trailer = t),
          }),
        );
        return { ok: true, message: reply, header, trailer: withoutReserved(trailer) };
      } catch (error) {
        return { ok: false, failure: failureOf(error, header, trailer) };
      }
    },
    serverStream(method, message, options) {
      const entry = methods.get(`/${method.parent.typeName}/${method.name}`)!;
      const slot: { context: CallContext | undefined } = { context: undefined };
      const cancel = new AbortController();
      const signal = AbortSignal.any([options.signal, cancel.signal]);
      // The kit reports a stream's headers when they arrive; a trailers-only response's at its
      // end, followed at once by its trailers — which is how the two are told apart here.
      let headerListener: (() => void) | undefined;
      let headerArrived = false;
      let trailed = false;
      const onHeader = (): void =>
        queueMicrotask(() => {
          if (headerArrived || trailed) return;
          headerArrived = true;
          headerListener?.();
        });
      const onTrailer = (): void => void (trailed = true);
      const iterator = inTrace(options.headers, () =>
        (entry.call as RawStream)(message, { ...callOptions({ ...options, signal }, slot), onHeader, onTrailer })[Symbol.asyncIterator](),
      );
      let failure: CallFailure | undefined;
      let done = false;
      const header = (): Headers => slot.context?.responseHeader ?? new Headers();
      const trailer = (): Headers => withoutReserved(slot.context?.responseTrailer ?? new Headers());
      return {
        async next() {
          if (done) return undefined;
          try {
            const result = await iterator.next();
            if (result.done !== true) return result.value;
          } catch (error) {
            failure = failureOf(error, header(), slot.context?.responseTrailer ?? new Headers());
          }
          done = true;
          return undefined;
        },
        header,
        trailer,
        whenHeader(listener) {
          headerListener = listener;
          if (headerArrived) listener();
        },
        get failure() {
          return failure;
        },
        cancel() {
          done = true;
          cancel.abort();
        },
      };
    },
  };
}

function valuesWith(slot: { context: CallContext | undefined }): NonNullable<CallOptions["values"]> {
  return createContextValues().set(CAPTURE, slot);
}

function withoutReserved(trailer: Headers): Headers {
  let copy: Headers | undefined;
  for (const name of RESERVED_TRAILERS) {
    if (trailer.has(name)) {
      copy ??= new Headers(trailer);
      copy.delete(name);
    }
  }
  return copy ?? trailer;
}

function failureOf(error: unknown, header: Headers, trailer: Headers): CallFailure {
  const rpc = error instanceof RpcError ? error : new RpcError(Code.INTERNAL, "the edge failed to call the backend");
  const raw = trailer.get("grpc-status-details-bin");
  const details =
    raw !== null
      ? new Uint8Array(Buffer.from(raw, "base64"))
      : rpc.details.length > 0
        ? new Uint8Array(encodeStatusDetails(rpc.code, rpc.message, rpc.details))
        : undefined;
  return { code: rpc.code, message: rpc.message, details, header, trailer: withoutReserved(trailer) };
}
