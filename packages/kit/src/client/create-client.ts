import {
  type DescMessage,
  type DescMethod,
  type DescService,
  type Message,
  type MessageInitShape,
  type MessageShape,
  type Registry,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import type { Code } from "../errors/rpc-error.js";
import type { CallContext } from "../server/call-context.js";
import type { RpcError } from "../errors/rpc-error.js";
import { createErrorDetailRegistry, decodeStatusDetails } from "../errors/status-details.js";
import type { ClientCallOptions, ClientInterceptor, ClientNext, ClientRequest, ClientResponse } from "../interceptors/client-interceptor.js";
import { chain } from "../interceptors/interceptor.js";
import { compileCodec, createCodecCache, type CodecCache } from "../codec/index.js";
import { assertLoadBalancingConfig, registerP2cEwma, serviceConfigFor, type LoadBalancingPolicy } from "../balancer/index.js";
import { discoveryChannelOptions, registerTrellisResolvers } from "../discovery/grpc-resolver.js";
import type { Discovery } from "../discovery/registry.js";

/** Per-call options. */
export interface CallOptions {
  /** Relative deadline. */
  readonly timeoutMs?: number;
  /** Cancels the call. */
  readonly signal?: AbortSignal;
  /** Request headers. */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * The server call this call is made while handling (its `CallContext`): the
   * client's deadline interceptor gives this call at most the parent's
   * remaining budget, cancels it with the parent, and forwards its request id —
   * Go's explicit context passing. Without it, the interceptor falls back to
   * the implicit call context, which the server provides only when created
   * with `implicitCallContext: true`.
   */
  readonly parent?: CallContext;
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

/** A typed promise/async-iterable client for a generated service. */
export type Client<S extends DescService> = (S extends GenService<infer Shape extends GenServiceMethods>
  ? { readonly [K in keyof Shape]: ClientMethod<Shape[K]> }
  : never) & {
  /** Closes the channel. */
  close(): void;
  /** The underlying grpc-js client, for connectivity state and what the kit does not cover. */
  readonly channel: grpc.Client;
};

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
  /** The client chain, outermost first. @default [] */
  readonly interceptors?: readonly ClientInterceptor[];
  /** Decodes google.rpc error details. @default the standard google.rpc types */
  readonly errorDetailRegistry?: Registry;
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
  const channelOptions: grpc.ChannelOptions = {
    "grpc.service_config": serviceConfigFor(options.loadBalancing ?? "p2c_ewma"),
    ...(options.discovery === undefined ? {} : discoveryChannelOptions(options.discovery)),
    ...options.channelOptions,
  };
  assertLoadBalancingConfig(channelOptions);
  const channel = new grpc.Client(target, options.credentials ?? grpc.credentials.createInsecure(), channelOptions);
  const registry = options.errorDetailRegistry ?? createErrorDetailRegistry();
  const next = chain(options.interceptors ?? [], createTransport(channel, registry, createCodecCache()));
  const methods: Record<string, unknown> = { close: () => channel.close(), channel };
  for (const method of service.methods) methods[method.localName] = bindMethod(method, target, next);
  return methods as Client<S>;
}

function bindMethod(method: DescMethod, target: string, next: ClientNext): unknown {
  const optionsOf = (options: CallOptions): ClientCallOptions => ({
    ...(options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.parent === undefined ? {} : { parent: options.parent }),
    metadata: options.metadata ?? {},
  });
  switch (method.methodKind) {
    case "unary":
      return async (request: object, options: CallOptions = {}) =>
        single(await next({ stream: false, method, target, message: toMessage(method.input, request), options: optionsOf(options) }));
    case "server_streaming":
      return (request: object, options: CallOptions = {}) =>
        streamOf(() => next({ stream: false, method, target, message: toMessage(method.input, request), options: optionsOf(options) }));
    case "client_streaming":
      return async (requests: AsyncIterable<object>, options: CallOptions = {}) =>
        single(await next({ stream: true, method, target, messages: toMessages(method.input, requests), options: optionsOf(options) }));
    case "bidi_streaming":
      return (requests: AsyncIterable<object>, options: CallOptions = {}) =>
        streamOf(() => next({ stream: true, method, target, messages: toMessages(method.input, requests), options: optionsOf(options) }));
  }
}

/** The end of the client chain: one grpc-js call per invocation. */
function createTransport(channel: grpc.Client, registry: Registry, codecs: CodecCache): ClientNext {
  return (request: ClientRequest): Promise<ClientResponse> => {
    const { method, options } = request;
    const path = `/${method.parent.typeName}/${method.name}`;
    const input = compileCodec(method.input, codecs);
    const output = compileCodec(method.output, codecs);
    const serialize = (message: Message): Buffer => toBuffer(input.encode(message));
    const deserialize = (bytes: Buffer): Message => output.decode(bytes);
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(options.metadata)) metadata.set(key, value);
    const callOptions: grpc.CallOptions = options.deadline === undefined ? {} : { deadline: options.deadline };
    const toError = (error: grpc.ServiceError): RpcError => toRpcError(error, registry);
    switch (method.methodKind) {
      case "unary":
        return new Promise((resolve, reject) => {
          if (request.stream) throw new Error("unary call with a request stream");
          const call = channel.makeUnaryRequest(path, serialize, deserialize, request.message, metadata, callOptions, (error, value) =>
            error || value === undefined ? reject(toError(error!)) : resolve({ stream: false, message: value }),
          );
          cancelOnAbort(call, options.signal);
        });
      case "client_streaming":
        return new Promise((resolve, reject) => {
          if (!request.stream) throw new Error("client-streaming call without a request stream");
          const call = channel.makeClientStreamRequest(path, serialize, deserialize, metadata, callOptions, (error, value) =>
            error || value === undefined ? reject(toError(error!)) : resolve({ stream: false, message: value }),
          );
          cancelOnAbort(call, options.signal);
          void writeAll(call, request.messages);
        });
      case "server_streaming": {
        if (request.stream) throw new Error("server-streaming call with a request stream");
        const call = channel.makeServerStreamRequest(path, serialize, deserialize, request.message, metadata, callOptions);
        cancelOnAbort(call, options.signal);
        return Promise.resolve({ stream: true, messages: readAll(call, toError) });
      }
      case "bidi_streaming": {
        if (!request.stream) throw new Error("bidi call without a request stream");
        const call = channel.makeBidiStreamRequest(path, serialize, deserialize, metadata, callOptions);
        cancelOnAbort(call, options.signal);
        void writeAll(call, request.messages);
        return Promise.resolve({ stream: true, messages: readAll(call, toError) });
      }
    }
  };
}

function single(response: ClientResponse): Message {
  if (response.stream) throw new Error("expected a single response message");
  return response.message;
}

/**
 * Starts the call now (so a watch is live before the caller's next action) and
 * hands out its messages when iterated; a failure to start surfaces there too.
 */
function streamOf(start: () => Promise<ClientResponse>): AsyncIterable<Message> {
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

async function* toMessages(schema: DescMessage, values: AsyncIterable<object>): AsyncIterable<Message> {
  for await (const value of values) yield toMessage(schema, value);
}

async function* readAll(call: grpc.ClientReadableStream<Message>, toError: (e: grpc.ServiceError) => RpcError): AsyncIterable<Message> {
  try {
    for await (const message of call as AsyncIterable<Message>) yield message;
  } catch (error) {
    throw isServiceError(error) ? toError(error) : error;
  } finally {
    call.cancel();
  }
}

async function writeAll(call: grpc.ClientWritableStream<Message>, requests: AsyncIterable<Message>): Promise<void> {
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

function cancelOnAbort(call: grpc.Call, signal: AbortSignal | undefined): void {
  if (signal === undefined) return;
  if (signal.aborted) return call.cancel();
  const cancel = (): void => call.cancel();
  signal.addEventListener("abort", cancel, { once: true });
  call.on("status", () => signal.removeEventListener("abort", cancel));
}

/**
 * Requests may be plain init objects: the compiled codec encodes them as they
 * are (absent fields are unset), so no `create()` copy is made per call.
 */
function toMessage(_schema: DescMessage, value: object): Message {
  return value as Message;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return typeof error === "object" && error !== null && "code" in error && "metadata" in error;
}

function toRpcError(error: grpc.ServiceError, registry: Registry): RpcError {
  return decodeStatusDetails(error.code as Code, error.details, error.metadata, registry);
}
