import { Code, errorInfo, resourceInfo, RpcError } from "@trellis/kit";
import { etagOf } from "./etag.js";
import { ChangesAheadError, ChangesPrunedError, EmailTakenError, UserNotFoundError, VersionConflictError } from "./user-errors.js";

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
  if (error instanceof ChangesAheadError) {
    // OUT_OF_RANGE, not INVALID_ARGUMENT: the token is well formed and names a position past the
    // end of the log, which the gRPC spec's "reading past end-of-file" example covers (it may
    // become valid as the log grows; a token from another or a restored database is the usual
    // cause). Resuming there would silently skip the changes up to it.
    return new RpcError(Code.OUT_OF_RANGE, `resume_token ${error.after} is ahead of the change log (newest change ${error.latest}); watch again with include_snapshot`, {
      details: [errorInfo("RESUME_TOKEN_AHEAD", ERROR_DOMAIN, { latest_resume_token: error.latest.toString() })],
    });
  }
  return error;
}
