import {
  create,
  fromBinary,
  toBinary,
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
import type { RpcError } from "../errors/rpc-error.js";
import { Code } from "../errors/rpc-error.js";
import { createErrorDetailRegistry, decodeStatusDetails } from "../errors/status-details.js";

/** Per-call options. */
export interface CallOptions {
  /** Relative deadline. */
  readonly timeoutMs?: number;
  /** Cancels the call. */
  readonly signal?: AbortSignal;
  /** Request headers. */
  readonly metadata?: Readonly<Record<string, string>>;
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
};

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** @default insecure (plaintext) */
  readonly credentials?: grpc.ChannelCredentials;
  /** grpc-js channel options. @default {} */
  readonly channelOptions?: grpc.ChannelOptions;
  /** Decodes google.rpc error details. @default the standard google.rpc types */
  readonly errorDetailRegistry?: Registry;
}

/**
 * A typed client over a grpc-js channel: unary methods return promises, streamed
 * responses are async iterables, failures throw RpcError with decoded
 * google.rpc details.
 */
export function createClient<S extends DescService>(service: S, target: string, options: ClientOptions = {}): Client<S> {
  const channel = new grpc.Client(target, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions);
  const registry = options.errorDetailRegistry ?? createErrorDetailRegistry();
  const methods: Record<string, unknown> = { close: () => channel.close() };
  for (const method of service.methods) methods[method.localName] = bindMethod(channel, method, registry);
  return methods as Client<S>;
}

function bindMethod(channel: grpc.Client, method: DescMethod, registry: Registry): unknown {
  const path = `/${method.parent.typeName}/${method.name}`;
  const serialize = (value: object): Buffer => encode(method.input, value);
  const deserialize = (bytes: Buffer): Message => fromBinary(method.output, bytes);
  const toError = (error: grpc.ServiceError): RpcError => toRpcError(error, registry);
  switch (method.methodKind) {
    case "unary":
      return (request: object, options: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          const call = channel.makeUnaryRequest(path, serialize, deserialize, request, metadataOf(options), callOptionsOf(options), (error, value) =>
            error ? reject(toError(error)) : resolve(value),
          );
          cancelOnAbort(call, options.signal);
        });
    case "server_streaming":
      return (request: object, options: CallOptions = {}) => {
        const call = channel.makeServerStreamRequest(path, serialize, deserialize, request, metadataOf(options), callOptionsOf(options));
        cancelOnAbort(call, options.signal);
        return readAll(call, toError);
      };
    case "client_streaming":
      return (requests: AsyncIterable<object>, options: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          const call = channel.makeClientStreamRequest(path, serialize, deserialize, metadataOf(options), callOptionsOf(options), (error, value) =>
            error ? reject(toError(error)) : resolve(value),
          );
          cancelOnAbort(call, options.signal);
          void writeAll(call, requests);
        });
    case "bidi_streaming":
      return (requests: AsyncIterable<object>, options: CallOptions = {}) => {
        const call = channel.makeBidiStreamRequest(path, serialize, deserialize, metadataOf(options), callOptionsOf(options));
        cancelOnAbort(call, options.signal);
        void writeAll(call, requests);
        return readAll(call, toError);
      };
  }
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

async function writeAll(call: grpc.ClientWritableStream<object>, requests: AsyncIterable<object>): Promise<void> {
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

function metadataOf(options: CallOptions): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  return metadata;
}

function callOptionsOf(options: CallOptions): grpc.CallOptions {
  return options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
}

function encode(schema: DescMessage, value: object): Buffer {
  const message = (value as Partial<Message>).$typeName === schema.typeName ? (value as Message) : create(schema, value as never);
  const bytes = toBinary(schema, message);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return typeof error === "object" && error !== null && "code" in error && "metadata" in error;
}

function toRpcError(error: grpc.ServiceError, registry: Registry): RpcError {
  return decodeStatusDetails(error.code as Code, error.details, error.metadata, registry);
}

export { Code };
