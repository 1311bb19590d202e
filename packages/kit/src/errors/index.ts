export { RpcError, Code, codeName, type ErrorDetail, type RpcErrorOptions } from "./rpc-error.js";
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
