import type { DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallContext } from "../call/call-context.js";

/** What a handler may return: a full message or a plain init object. */
export type ResponseInit<O extends DescMessage> = MessageInitShape<O>;

/** A handler for one method, typed by its kind. */
export type MethodImpl<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? (request: MessageShape<I>, context: CallContext) => Promise<ResponseInit<O>>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? (request: MessageShape<I>, context: CallContext) => AsyncIterable<ResponseInit<O>>
    : M extends { methodKind: "client_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? (requests: AsyncIterable<MessageShape<I>>, context: CallContext) => Promise<ResponseInit<O>>
      : M extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
        ? (requests: AsyncIterable<MessageShape<I>>, context: CallContext) => AsyncIterable<ResponseInit<O>>
        : never;

/**
 * The implementation of a generated service: one async function per method
 * (an async iterable where the method streams responses), keyed by the
 * method's local name (`getUser`).
 */
export type ServiceImpl<S extends DescService> =
  S extends GenService<infer Shape extends GenServiceMethods> ? { readonly [K in keyof Shape]: MethodImpl<Shape[K]> } : never;
