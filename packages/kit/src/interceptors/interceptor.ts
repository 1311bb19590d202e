import type { DescMethod, Message } from "@bufbuild/protobuf";
import type { CallContext } from "../server/call-context.js";

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

/**
 * A response is `stream: false` with one message (unary, client streaming) or
 * `stream: true` with an async iterable (server streaming, bidi). A streamed
 * response is finished when its iterable is.
 */
export type ServerResponse =
  | { readonly stream: false; readonly message: Message }
  | { readonly stream: true; readonly messages: AsyncIterable<Message> };

/** Handles a call: the next interceptor, or the service handler at the end. */
export type Next = (request: ServerRequest) => Promise<ServerResponse>;

/**
 * Wraps the rest of the chain. The same type serves unary and streaming calls,
 * like connect-es' `Interceptor` and Kratos' `Middleware`.
 */
export type Interceptor = (next: Next) => Next;

/** Composes interceptors so that the first one listed runs outermost. */
export function chainInterceptors(interceptors: readonly Interceptor[], handler: Next): Next {
  return interceptors.reduceRight<Next>((next, interceptor) => interceptor(next), handler);
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
