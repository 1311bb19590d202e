/**
 * Trellis' kit: what a service author needs, in one import. The rest lives
 * behind subpaths: `@trellis/kit/call`, `/interceptors`, `/errors`,
 * `/resilience`, `/discovery`, `/balancer`, `/config`, `/lifecycle`,
 * `/observability`, `/server`, `/codec`, `/validation`, `/testing`.
 */
export { runService, type ServiceSpec, type ServiceRuntime } from "./lifecycle/run-service.js";
export { createServer, type Server, type ServerOptions } from "./server/create-server.js";
export type { ServiceImpl, MethodImpl } from "./server/service-impl.js";
export { createClient, closeClient, type Client, type ClientOptions, type CallOptions } from "./client/create-client.js";
export { remainingMs, type CallContext } from "./call/call-context.js";
export { createContextKey, type ContextKey, type ContextValues } from "./call/context-values.js";
export { encodeBinaryHeader, decodeBinaryHeader } from "./call/headers.js";
export type {
  Interceptor,
  Next,
  CallRequest,
  CallResponse,
  UnaryRequest,
  StreamRequest,
  UnaryResponse,
  StreamResponse,
} from "./call/interceptor.js";
export { Code, RpcError, type ErrorDetail } from "./errors/index.js";
export {
  badRequest,
  invalidArgument,
  errorInfo,
  resourceInfo,
  retryInfo,
  preconditionFailure,
  type FieldViolationInit,
} from "./errors/error-details.js";
export { createLogger, type Logger } from "./observability/logger.js";
export { encodePageToken, decodePageToken, invalidPageToken, type PageTokenPayload } from "./pagination/page-token.js";
