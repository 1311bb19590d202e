import { Code, errorInfo, resourceInfo, retryInfo, RpcError } from "@trellis/kit";
import { etagOf } from "./etag.js";
import {
  ChangesAheadError,
  ChangesPrunedError,
  EmailTakenError,
  SnapshotOverrunError,
  SnapshotsBusyError,
  SnapshotTooSlowError,
  UserNotFoundError,
  VersionConflictError,
} from "./user-errors.js";

/** The ErrorInfo domain of this service's errors. */
export const ERROR_DOMAIN = "user.trellis.dev";
const USER_TYPE = "trellis.user.v1.User";
/** The back-off a client refused a snapshot slot is told to wait before trying again. */
export const SNAPSHOT_RETRY_DELAY_MS = 1000;

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
    return new RpcError(
      Code.OUT_OF_RANGE,
      `resume_token ${error.after} is ahead of the change log (newest change ${error.latest}); watch again with include_snapshot`,
      {
        details: [errorInfo("RESUME_TOKEN_AHEAD", ERROR_DOMAIN, { latest_resume_token: error.latest.toString() })],
      },
    );
  }
  if (error instanceof SnapshotsBusyError) {
    // UNAVAILABLE, not RESOURCE_EXHAUSTED: the bound is this instance's capacity, not the
    // caller's quota; the condition is transient and another instance may have room, which is
    // what UNAVAILABLE tells clients (and their retry policies) to do, with the RetryInfo delay.
    return new RpcError(
      Code.UNAVAILABLE,
      `this instance is already reading ${error.limit} snapshots (WATCH_MAX_SNAPSHOTS); retry include_snapshot after the delay, or on another instance`,
      { details: [retryInfo(SNAPSHOT_RETRY_DELAY_MS), errorInfo("SNAPSHOTS_BUSY", ERROR_DOMAIN, { limit: String(error.limit) })] },
    );
  }
  if (error instanceof SnapshotTooSlowError) {
    return new RpcError(
      Code.RESOURCE_EXHAUSTED,
      `the snapshot did not reach its end within ${error.maxMs} ms (WATCH_SNAPSHOT_MAX_MS): read the stream promptly, or page with ListUsers`,
      { details: [errorInfo("SNAPSHOT_TOO_SLOW", ERROR_DOMAIN, { max_ms: String(error.maxMs) })] },
    );
  }
  if (error instanceof SnapshotOverrunError) {
    return new RpcError(Code.ABORTED, "more changes committed while the snapshot was read than the change log keeps; watch again", {
      details: [errorInfo("SNAPSHOT_OVERRUN", ERROR_DOMAIN)],
    });
  }
  return error;
}
