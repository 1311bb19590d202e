/**
 * Statuses and errors: Trellis' own status codes and their classes, RpcError,
 * google.rpc error details and their wire encoding.
 */
export { Code, codeName, toCode, isServerFault, isBreakerFailure, isRetryable } from "./code.js";
export { RpcError, type ErrorDetail, type RpcErrorOptions } from "./rpc-error.js";
export {
  badRequest,
  invalidArgument,
  errorInfo,
  resourceInfo,
  retryInfo,
  preconditionFailure,
  requestInfo,
  type FieldViolationInit,
} from "./error-details.js";
export {
  STATUS_DETAILS_KEY,
  STATUS_LIMITS,
  boundStatus,
  type BoundedStatus,
  encodeStatusDetails,
  decodeStatusDetails,
  createErrorDetailRegistry,
} from "./status-details.js";
export { toRpcError, codeOf, abortedError, INTERNAL_ERROR_MESSAGE } from "./to-rpc-error.js";
