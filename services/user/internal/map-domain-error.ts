import { Code, errorInfo, resourceInfo, RpcError } from "@trellis/kit";
import { etagOf } from "./etag.js";
import { ChangesPrunedError, EmailTakenError, UserNotFoundError, VersionConflictError } from "./user-errors.js";

/** The ErrorInfo domain of this service's errors. */
export const ERROR_DOMAIN = "user.trellis.dev";
const USER_TYPE = "trellis.user.v1.User";

/**
 * Maps the business layer's errors to gRPC statuses with google.rpc details;
 * anything else is passed through (the kit turns it into INTERNAL).
 */
export function mapDomainError(error: unknown): unknown {
  if (error instanceof UserNotFoundError) {
    return new RpcError(Code.NOT_FOUND, `user ${error.id} not found`, { details: [resourceInfo(USER_TYPE, error.id)] });
  }
  if (error instanceof EmailTakenError) {
    return new RpcError(Code.ALREADY_EXISTS, `email ${error.email} is already taken`, {
      details: [errorInfo("EMAIL_TAKEN", ERROR_DOMAIN, { email: error.email }), resourceInfo(USER_TYPE, error.email)],
    });
  }
  if (error instanceof VersionConflictError) {
    return new RpcError(
      Code.ABORTED,
      `user ${error.id} was changed concurrently (etag ${etagOf(error.expected)} is stale, current is ${etagOf(error.actual)}); read it again and retry`,
      { details: [errorInfo("ETAG_MISMATCH", ERROR_DOMAIN, { current_etag: etagOf(error.actual) }), resourceInfo(USER_TYPE, error.id)] },
    );
  }
  if (error instanceof ChangesPrunedError) {
    return new RpcError(Code.OUT_OF_RANGE, "resume_token is older than the retained change history; watch again with include_snapshot", {
      details: [errorInfo("RESUME_TOKEN_EXPIRED", ERROR_DOMAIN)],
    });
  }
  return error;
}
