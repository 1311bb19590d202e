/**
 * The call model shared by servers and clients: the context a call carries,
 * its headers and typed values, and the interceptor type.
 */
export { withCallSettings, remainingMs, type CallContext, type CallSettings } from "./call-context.js";
export { createContextKey, createContextValues, type ContextKey, type ContextValues } from "./context-values.js";
export { encodeBinaryHeader, decodeBinaryHeader, headersFromMetadata, metadataFromHeaders, type HeadersInit } from "./headers.js";
export {
  chain,
  observeStream,
  type Interceptor,
  type Next,
  type CallRequest,
  type CallResponse,
  type UnaryRequest,
  type StreamRequest,
  type UnaryResponse,
  type StreamResponse,
  type MessageData,
} from "./interceptor.js";
export { currentCallContext } from "./call-context-storage.js";
export { methodName } from "./method-name.js";
