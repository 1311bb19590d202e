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
