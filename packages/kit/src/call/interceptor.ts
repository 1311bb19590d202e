import type { DescMethod } from "@bufbuild/protobuf";
import type { CallContext } from "./call-context.js";

/**
 * A message as it passes an interceptor: a decoded message (a server's
 * request, a client's response) or the plain init object a caller or handler
 * gave (a client's request, a server's response) — both of the method's
 * type. Interceptors that need the fields check `request.method`.
 */
export type MessageData = object;

/** The single request message of a unary or server-streaming call. */
export interface UnaryRequest {
  readonly stream: false;
  readonly method: DescMethod;
  readonly context: CallContext;
  /**
   * The message. On the server it is decoded when first read, so a malformed
   * request fails there — inside the chain, where every interceptor sees it —
   * with INVALID_ARGUMENT.
   */
  readonly message: MessageData;
}

/** The request messages of a client-streaming or bidi call. */
export interface StreamRequest {
  readonly stream: true;
  readonly method: DescMethod;
  readonly context: CallContext;
  readonly messages: AsyncIterable<MessageData>;
}

/**
 * One request model for the four call kinds and both sides: `stream: false`
 * when the client sends exactly one message (unary, server streaming),
 * `stream: true` when it sends a stream (client streaming, bidi).
 */
export type CallRequest = UnaryRequest | StreamRequest;

/** The single response message of a unary or client-streaming call. */
export interface UnaryResponse {
  readonly stream: false;
  readonly message: MessageData;
}

/** The response messages of a server-streaming or bidi call, finished when the iterable is. */
export interface StreamResponse {
  readonly stream: true;
  readonly messages: AsyncIterable<MessageData>;
}

/** A call's response; headers and trailers are on `request.context`. */
export type CallResponse = UnaryResponse | StreamResponse;

/** Handles a call: the next interceptor, or (at the end of the chain) the handler or the transport. */
export type Next = (request: CallRequest) => Promise<CallResponse>;

/**
 * The one interceptor type, for server and client calls, unary and streaming
 * (connect-es' `Interceptor`, Kratos' `Middleware`): it wraps the rest of the
 * chain. `request.context.side` tells a server call from a client call.
 */
export type Interceptor = (next: Next) => Next;

/** Composes interceptors so that the first one listed runs outermost. */
export function chain(interceptors: readonly Interceptor[], next: Next): Next {
  return interceptors.reduceRight<Next>((inner, wrap) => wrap(inner), next);
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
