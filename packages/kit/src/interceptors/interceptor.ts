import type { DescMethod, Message } from "@bufbuild/protobuf";
import type { CallContext } from "../server/call-context.js";

/**
 * The one interceptor model, for server and client alike (connect-es'
 * `Interceptor`, Kratos' `Middleware`): a handler takes a request and resolves
 * to a response; a middleware wraps a handler. Unary and streaming calls share
 * it: requests and responses say whether they carry one message or a stream.
 */
export type Handler<Req, Res> = (request: Req) => Promise<Res>;

/** Wraps the rest of a chain. */
export type Middleware<Req, Res> = (next: Handler<Req, Res>) => Handler<Req, Res>;

/** Composes middleware so that the first one listed runs outermost. */
export function chain<Req, Res>(middleware: readonly Middleware<Req, Res>[], handler: Handler<Req, Res>): Handler<Req, Res> {
  return middleware.reduceRight<Handler<Req, Res>>((next, wrap) => wrap(next), handler);
}

/**
 * A response: one message (unary, client streaming) or an async iterable
 * (server streaming, bidi), finished when the iterable is.
 */
export type RpcResponse =
  | { readonly stream: false; readonly message: Message }
  | { readonly stream: true; readonly messages: AsyncIterable<Message> };

/**
 * One request model for all four call kinds. A request is `stream: false` when
 * the client sends exactly one message (unary, server streaming) and
 * `stream: true` when it sends a stream (client streaming, bidi).
 */
export type ServerRequest = UnaryServerRequest | StreamServerRequest;

/** The single request message of a unary or server-streaming call. */
export interface UnaryServerRequest {
  readonly stream: false;
  readonly method: DescMethod;
  readonly context: CallContext;
  readonly message: Message;
}

/** The request messages of a client-streaming or bidi call. */
export interface StreamServerRequest {
  readonly stream: true;
  readonly method: DescMethod;
  readonly context: CallContext;
  readonly messages: AsyncIterable<Message>;
}

/** What a server handler chain resolves to. */
export type ServerResponse = RpcResponse;

/** Handles a server call: the next interceptor, or the service handler at the end. */
export type Next = Handler<ServerRequest, ServerResponse>;

/** A server interceptor. */
export type Interceptor = Middleware<ServerRequest, ServerResponse>;

/** Composes server interceptors so that the first one listed runs outermost. */
export function chainInterceptors(interceptors: readonly Interceptor[], handler: Next): Next {
  return chain(interceptors, handler);
}

/**
 * Wraps a response stream so that `onEnd` runs exactly once when it finishes,
 * fails or is abandoned by the consumer; errors may be replaced by `mapError`.
 */
export async function* observeStream<T>(
  source: AsyncIterable<T>,
  onEnd: (error: unknown) => void,
  mapError: (error: unknown) => unknown = (e) => e,
): AsyncIterable<T> {
  let failure: unknown;
  try {
    yield* source;
  } catch (error) {
    failure = mapError(error);
    throw failure;
  } finally {
    onEnd(failure);
  }
}
