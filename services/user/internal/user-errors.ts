/** Domain errors the repository and business rules throw; the handler maps them to gRPC statuses. */

/** No user has this id. */
export class UserNotFoundError extends Error {
  override readonly name = "UserNotFoundError";
  constructor(readonly id: string) {
    super(`user ${id} not found`);
  }
}

/** Another user already has this email. */
export class EmailTakenError extends Error {
  override readonly name = "EmailTakenError";
  constructor(readonly email: string) {
    super(`email ${email} is already taken`);
  }
}

/** The stored version differs from the one the caller based its change on. */
export class VersionConflictError extends Error {
  override readonly name = "VersionConflictError";
  constructor(
    readonly id: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`user ${id} is at version ${actual}, not ${expected}`);
  }
}

/** A change-feed reader resumed from a position whose following changes were already pruned. */
export class ChangesPrunedError extends Error {
  override readonly name = "ChangesPrunedError";
  constructor(
    readonly after: bigint,
    readonly oldest: bigint,
  ) {
    super(`changes after ${after} were pruned; the oldest kept change is ${oldest}`);
  }
}

/** A change-feed reader asked for changes after a position the change log has not reached. */
export class ChangesAheadError extends Error {
  override readonly name = "ChangesAheadError";
  constructor(
    readonly after: bigint,
    readonly latest: bigint,
  ) {
    super(`position ${after} is ahead of the change log, whose newest change is ${latest}`);
  }
}

/** More changes committed while a snapshot was read than the change log keeps: the snapshot cannot be made consistent. */
export class SnapshotOverrunError extends Error {
  override readonly name = "SnapshotOverrunError";
  constructor(
    readonly from: bigint,
    readonly to: bigint,
  ) {
    super(`changes ${from}..${to} made while the snapshot was read were pruned before they could be read`);
  }
}

/** Every snapshot slot of this process is taken. */
export class SnapshotsBusyError extends Error {
  override readonly name = "SnapshotsBusyError";
  constructor(readonly limit: number) {
    super(`all ${limit} snapshot slots are taken`);
  }
}

/** A snapshot did not reach its end within the time a slot is lent for. */
export class SnapshotTooSlowError extends Error {
  override readonly name = "SnapshotTooSlowError";
  constructor(readonly maxMs: number) {
    super(`the snapshot did not complete within ${maxMs} ms`);
  }
}
