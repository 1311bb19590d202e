import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape, Registry } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import type { CallContext } from "../call/call-context.js";
import { createContextKey, type ContextValues } from "../call/context-values.js";
import { headersFromMetadata, metadataFromHeaders, type HeadersInit } from "../call/headers.js";
import { chain, type CallRequest, type CallResponse, type Interceptor, type MessageData, type Next } from "../call/interceptor.js";
import { Code, toCode } from "../errors/code.js";
import { RpcError } from "../errors/rpc-error.js";
import { createErrorDetailRegistry, decodeStatusDetails } from "../errors/status-details.js";
import { asBuffer, compileCodec, createCodecCache, type CodecCache } from "../codec/index.js";
import { assertLoadBalancingConfig, registerP2cEwma, serviceConfigFor, type LoadBalancingPolicy } from "../balancer/index.js";
import { discoveryChannelOptions, registerTrellisResolvers } from "../discovery/grpc-resolver.js";
import type { Discovery } from "../discovery/registry.js";
import { defaultClientInterceptors, type DefaultClientInterceptorsOptions } from "../interceptors/default-chains.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { createBreakerRegistry } from "../resilience/breaker-registry.js";
import { createRetryStats } from "../resilience/retry-stats.js";
import { canAbort, ClientCall } from "./client-call.js";
import type { ClientMetrics, ClientObserver } from "./client-metrics.js";

/** Per-call options. */
export interface CallOptions {
  /** Relative deadline. */
  readonly timeoutMs?: number;
  /** Cancels the call. */
  readonly signal?: AbortSignal;
  /** Request headers (gRPC metadata; `-bin` values in base64). */
  readonly headers?: HeadersInit;
  /** Typed per-call values for the client interceptors (see `createContextKey`). */
  readonly values?: ContextValues;
  /**
   * The server call this call is made while handling (its `CallContext`): the
   * client's deadline interceptor gives this call at most the parent's
   * remaining budget, cancels it with the parent, and forwards its request id —
   * Go's explicit context passing. Without it, the interceptor falls back to
   * the implicit call context, which the server provides only when created
   * with `implicitCallContext: true`.
   */
  readonly parent?: CallContext;
  /**
   * Called with the response headers when they arrive: for a stream, as soon as the server
   * sends them (before its first message, which lets a caller know the stream is set up);
   * for a unary call, and for a response that is trailers only, when the call ends.
   */
  readonly onHeader?: (headers: Headers) => void;
  /** Called with the response trailers when the call ends. */
  readonly onTrailer?: (trailers: Headers) => void;
}

/** A client method, typed by the method's kind. */
export type ClientMethod<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? (request: MessageInitShape<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
    : M extends { methodKind: "client_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? (requests: AsyncIterable<MessageInitShape<I>>, options?: CallOptions) => Promise<MessageShape<O>>
      : M extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
        ? (requests: AsyncIterable<MessageInitShape<I>>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
        : never;

/** A typed promise/async-iterable client for a generated service: one method per RPC, nothing else. */
export type Client<S extends DescService> =
  S extends GenService<infer Shape extends GenServiceMethods> ? { readonly [K in keyof Shape]: ClientMethod<Shape[K]> } : never;

/**
 * Closes a client's channel (a function, not a method of the client, so no
 * RPC name can collide with it). Calls in flight fail with CANCELLED.
 */
export function closeClient(client: object): void {
  const entry = channels.get(client);
  entry?.channel.close();
  entry?.observer?.close();
}

// Which channel each client closes over (and what observes it): a WeakMap rather
// than a property, so the client object holds RPC methods only. Entries go with
// their clients.
const channels = new WeakMap<object, { readonly channel: grpc.Client; readonly observer: ClientObserver | undefined }>();

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** @default insecure (plaintext) */
  readonly credentials?: grpc.ChannelCredentials;
  /** grpc-js channel options. @default {} */
  readonly channelOptions?: grpc.ChannelOptions;
  /**
   * Client-side load balancing over the target's instances. Ignored when
   * `channelOptions` carries its own `grpc.service_config`. @default "p2c_ewma"
   */
  readonly loadBalancing?: LoadBalancingPolicy;
  /**
   * Where `etcd:///name`, `consul:///name`, `static:///name` and
   * `trellis-dns:///name` targets find their instances (a registry instance).
   */
  readonly discovery?: Discovery;
  /**
   * Interceptors of your own, outermost first; they run outside the
   * resilience chain (so once per call, not per attempt). @default []
   */
  readonly interceptors?: readonly Interceptor[];
  /**
   * The resilience chain, on by default: deadline (5 s for single-response
   * calls, inherited from a parent call) → breaker (Google SRE) → retry
   * (idempotent methods, UNAVAILABLE or RetryInfo). Each link is turned off
   * with `false`, or the whole chain with `resilience: false`.
   * @default {}
   */
  readonly resilience?: DefaultClientInterceptorsOptions | false;
  /** Decodes google.rpc error details. @default the standard google.rpc types */
  readonly errorDetailRegistry?: Registry;
  /** The logger of the calls' contexts (`context.logger`). @default a silent logger */
  readonly logger?: Logger;
  /**
   * Where the client's breakers, retries, balancer picks and discovery sets
   * are counted (`createClientMetrics`; runService passes the process'). The
   * breaker registry and retry stats are created here when the resilience
   * options do not bring their own. @default not counted
   */
  readonly metrics?: ClientMetrics;
}

/**
 * A typed client over a grpc-js channel: unary methods return promises, streamed
 * responses are async iterables, failures throw RpcError with decoded
 * google.rpc details. Every call runs through the client interceptor chain.
 */
export function createClient<S extends DescService>(service: S, target: string, options: ClientOptions = {}): Client<S> {
  // grpc-js keeps resolvers and policies in process-wide tables: registering is idempotent.
  registerTrellisResolvers();
  registerP2cEwma();
  const { metrics } = options;
  const discovery = metrics === undefined || options.discovery === undefined ? options.discovery : metrics.discovery(options.discovery);
  const channelOptions: grpc.ChannelOptions = {
    "grpc.service_config": serviceConfigFor(options.loadBalancing ?? "p2c_ewma"),
    ...(discovery === undefined ? {} : discoveryChannelOptions(discovery)),
    ...options.channelOptions,
  };
  assertLoadBalancingConfig(channelOptions);
  const channel = new grpc.Client(target, options.credentials ?? grpc.credentials.createInsecure(), channelOptions);
  const registry = options.errorDetailRegistry ?? createErrorDetailRegistry();
  const observed = metrics === undefined ? undefined : observe(metrics, target, options.resilience);
  const resilienceOptions = observed === undefined ? options.resilience : observed.resilience;
  const resilience = resilienceOptions === false ? [] : defaultClientInterceptors(resilienceOptions);
  const transport = createTransport(channel, registry, createCodecCache(), observed?.observer);
  const next = chain([...(options.interceptors ?? []), ...resilience], transport);
  const logger = options.logger ?? createLogger({ level: "silent" });
  const methods: Record<string, unknown> = {};
  for (const method of service.methods) methods[method.localName] = bindMethod(method, target, logger, next);
  channels.set(methods, { channel, observer: observed?.observer });
  return methods as Client<S>;
}

/**
 * Starts observing a client: its resilience options with a breaker registry
 * and retry stats the metrics can read (the caller's own when it passed them).
 */
function observe(
  metrics: ClientMetrics,
  target: string,
  resilience: DefaultClientInterceptorsOptions | false | undefined,
): { readonly resilience: DefaultClientInterceptorsOptions | false; readonly observer: ClientObserver } {
  if (resilience === false) return { resilience, observer: metrics.observe({ target }) };
  const { breaker = {}, retry = {} } = resilience ?? {};
  const breakers = breaker === false ? undefined : (breaker.breakers ?? createBreakerRegistry());
  const retryStats = retry === false ? undefined : (retry.stats ?? createRetryStats());
  return {
    resilience: {
      ...resilience,
      ...(breaker === false ? {} : { breaker: { ...breaker, breakers } }),
      ...(retry === false ? {} : { retry: { ...retry, stats: retryStats } }),
    },
    observer: metrics.observe({ target, breakers, retryStats }),
  };
}

function bindMethod(method: DescMethod, target: string, logger: Logger, next: Next): unknown {
  const contextOf = (options: CallOptions): ClientCall =>
    new ClientCall({
      method,
      target,
      logger,
      ...(options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.headers === undefined ? {} : { headers: options.headers }),
      ...(options.values === undefined ? {} : { values: options.values }),
      ...(options.parent === undefined ? {} : { parent: options.parent }),
    });
  const call = (request: CallRequest, options: CallOptions): Promise<CallResponse> => {
    if (options.onHeader === undefined && options.onTrailer === undefined) return next(request);
    let headerReported = false;
    const reportHeader = (): void => {
      if (headerReported) return;
      headerReported = true;
      options.onHeader?.(request.context.responseHeader);
    };
    // A stream's headers are reported when the transport receives them, not at its end.
    if (options.onHeader !== undefined && streamsResponses(method)) request.context.values.set(RESPONSE_HEADER_ARRIVED, reportHeader);
    const pending = next(request);
    const report = (): void => {
      reportHeader();
      options.onTrailer?.(request.context.responseTrailer);
    };
    return pending.then(
      (response) => (response.stream ? { stream: true, messages: afterStream(response.messages, report) } : (report(), response)),
      (error: unknown) => {
        report();
        throw error;
      },
    );
  };
  switch (method.methodKind) {
    case "unary":
      return async (message: object, options: CallOptions = {}) =>
        single(await call({ stream: false, method, context: contextOf(options), message }, options));
    case "server_streaming":
      return (message: object, options: CallOptions = {}) =>
        streamOf(() => call({ stream: false, method, context: contextOf(options), message }, options));
    case "client_streaming":
      return async (messages: AsyncIterable<object>, options: CallOptions = {}) =>
        single(await call({ stream: true, method, context: contextOf(options), messages }, options));
    case "bidi_streaming":
      return (messages: AsyncIterable<object>, options: CallOptions = {}) =>
        streamOf(() => call({ stream: true, method, context: contextOf(options), messages }, options));
  }
}

/** For a response stream whose caller passed `onHeader`: called by the transport when the response headers arrive. */
const RESPONSE_HEADER_ARRIVED = createContextKey<(() => void) | undefined>(undefined, { description: "response header listener" });

function streamsResponses(method: DescMethod): boolean {
  return method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
}

async function* afterStream<T>(messages: AsyncIterable<T>, done: () => void): AsyncIterable<T> {
  try {
    yield* messages;
  } finally {
    done();
  }
}

/** The end of the client chain: one grpc-js call per invocation. */
function createTransport(channel: grpc.Client, registry: Registry, codecs: CodecCache, observer: ClientObserver | undefined): Next {
  const send = createSender(channel, registry, codecs, observer);
  return async (request) => {
    try {
      return await send(request);
    } catch (error) {
      // grpc-js throws (not a status) for a call on a closed channel: say it as grpc-go does.
      if (error instanceof Error && /Channel has been shut down/.test(error.message)) {
        throw new RpcError(Code.CANCELLED, "the client is closed (closeClient)");
      }
      throw error;
    }
  };
}

function createSender(channel: grpc.Client, registry: Registry, codecs: CodecCache, observer: ClientObserver | undefined): Next {
  // What grpc-js' getPeer() answers for a call that never reached a subchannel ('unknown' too).
  const unpicked = channel.getChannel().getTarget();
  return (request: CallRequest): Promise<CallResponse> => {
    const { method, context } = request;
    const path = `/${method.parent.typeName}/${method.name}`;
    const input = compileCodec(method.input, codecs);
    const output = compileCodec(method.output, codecs);
    // The chain carries the method's own types unchecked (MessageData): the client's typing vouches for them.
    // A request given as encoded bytes (a proxy forwarding a caller's message) goes out as it is and
    // the responses come back as bytes: decoding and re-encoding would drop fields this codec does not know.
    const raw = !request.stream && request.message instanceof Uint8Array;
    const serialize = raw
      ? (message: MessageData): Buffer => asBuffer(message as unknown as Uint8Array)
      : (message: MessageData): Buffer => asBuffer(input.encode(message as MessageInitShape<DescMessage>));
    const deserialize = raw
      ? (bytes: Buffer): MessageData => bytes as unknown as MessageData
      : (bytes: Buffer): MessageData => output.decode(bytes);
    const metadata = metadataFromHeaders(context.requestHeader);
    const callOptions: grpc.CallOptions = context.deadline === undefined ? {} : { deadline: context.deadline };
    const toError = (error: grpc.ServiceError): RpcError => toRpcError(error, registry);
    const watch = (call: grpc.ClientUnaryCall | grpc.ClientReadableStream<MessageData> | grpc.ClientWritableStream<MessageData>): void => {
      cancelOnAbort(call, context.signal);
      let headersCame = false;
      call.on("metadata", (received: grpc.Metadata) => {
        headersCame = true;
        copyInto(context.responseHeader, received);
        if (streamsResponses(method)) context.values.get(RESPONSE_HEADER_ARRIVED)?.();
      });
      call.on("status", (status: grpc.StatusObject) => {
        // A trailers-only response (an error before any message) is headers and trailers in one.
        if (!headersCame) copyInto(context.responseHeader, status.metadata);
        copyInto(context.responseTrailer, status.metadata);
        if (observer !== undefined) {
          // The address of the subchannel the balancer picked, whatever the policy.
          const peer = call.getPeer();
          if (peer !== "unknown" && peer !== unpicked) observer.picked(peer);
        }
      });
    };
    switch (method.methodKind) {
      case "unary":
        return new Promise((resolve, reject) => {
          if (request.stream) throw new Error("unary call with a request stream");
          const call = channel.makeUnaryRequest(path, serialize, deserialize, request.message, metadata, callOptions, (error, value) =>
            error || value === undefined ? reject(toError(error!)) : resolve({ stream: false, message: value }),
          );
          watch(call);
        });
      case "client_streaming":
        return new Promise((resolve, reject) => {
          if (!request.stream) throw new Error("client-streaming call without a request stream");
          const call = channel.makeClientStreamRequest(path, serialize, deserialize, metadata, callOptions, (error, value) =>
            error || value === undefined ? reject(toError(error!)) : resolve({ stream: false, message: value }),
          );
          watch(call);
          void writeAll(call, request.messages);
        });
      case "server_streaming": {
        if (request.stream) throw new Error("server-streaming call with a request stream");
        const call = channel.makeServerStreamRequest(path, serialize, deserialize, request.message, metadata, callOptions);
        watch(call);
        return Promise.resolve({ stream: true, messages: readAll(call, toError) });
      }
      case "bidi_streaming": {
        if (!request.stream) throw new Error("bidi call without a request stream");
        const call = channel.makeBidiStreamRequest(path, serialize, deserialize, metadata, callOptions);
        watch(call);
        void writeAll(call, request.messages);
        return Promise.resolve({ stream: true, messages: readAll(call, toError) });
      }
    }
  };
}

function copyInto(headers: Headers, metadata: grpc.Metadata): void {
  headersFromMetadata(metadata).forEach((value, key) => headers.append(key, value));
}

function single(response: CallResponse): MessageData {
  if (response.stream) throw new Error("expected a single response message");
  return response.message;
}

/**
 * Starts the call now (so a watch is live before the caller's next action) and
 * hands out its messages when iterated; a failure to start surfaces there too.
 */
function streamOf(start: () => Promise<CallResponse>): AsyncIterable<MessageData> {
  const pending = start();
  pending.catch(() => undefined);
  return {
    async *[Symbol.asyncIterator]() {
      const response = await pending;
      if (!response.stream) throw new Error("expected a response stream");
      yield* response.messages;
    },
  };
}

async function* readAll(
  call: grpc.ClientReadableStream<MessageData>,
  toError: (e: grpc.ServiceError) => RpcError,
): AsyncIterable<MessageData> {
  try {
    for await (const message of call as AsyncIterable<MessageData>) yield message;
  } catch (error) {
    throw isServiceError(error) ? toError(error) : error;
  } finally {
    call.cancel();
  }
}

async function writeAll(call: grpc.ClientWritableStream<MessageData>, requests: AsyncIterable<MessageData>): Promise<void> {
  try {
    for await (const request of requests) {
      if (!call.write(request)) await new Promise((resolve) => call.once("drain", resolve));
    }
    call.end();
  } catch {
    // The request source failed: there is nothing sensible to send, so cancel.
    call.cancel();
  }
}

function cancelOnAbort(call: grpc.Call, signal: AbortSignal): void {
  if (!canAbort(signal)) return;
  if (signal.aborted) return call.cancel();
  const cancel = (): void => call.cancel();
  signal.addEventListener("abort", cancel, { once: true });
  call.on("status", () => signal.removeEventListener("abort", cancel));
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return typeof error === "object" && error !== null && "code" in error && "metadata" in error;
}

function toRpcError(error: grpc.ServiceError, registry: Registry): RpcError {
  return decodeStatusDetails(toCode(error.code), error.details, error.metadata, registry);
}
