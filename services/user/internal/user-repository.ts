/**
 * The storage contract the user service's business layer needs. Owned here, in
 * `internal/`, and implemented in `repository/` (Kratos' dependency rule:
 * `api` → `internal` ← `repository`).
 */

/** A role as its numeric value in `trellis.user.v1.Role`. */
export type RoleValue = number;

/** A stored user. */
export interface UserRecord {
  readonly id: string;
  /** Stored lower-cased; unique. */
  readonly email: string;
  readonly displayName: string;
  readonly roles: readonly RoleValue[];
  /** Increases by one on every write; the API exposes it as the etag. */
  readonly version: number;
  readonly createTime: Date;
  readonly updateTime: Date;
}

/** What `create` stores. */
export interface NewUser {
  readonly id: string;
  readonly email: string;
  readonly displayName: string;
  readonly roles: readonly RoleValue[];
}

/** The fields `update` changes; absent fields are left alone. */
export interface UserPatch {
  readonly email?: string;
  readonly displayName?: string;
  readonly roles?: readonly RoleValue[];
}

/** Where a page of `list` starts: strictly after this (createTime, id). */
export interface ListCursor {
  readonly createTime: Date;
  readonly id: string;
}

/** A `list` query. */
export interface ListQuery {
  readonly limit: number;
  readonly after?: ListCursor;
  /** Case-insensitive substring of email or display name. */
  readonly query?: string;
  /** Only users holding this role. */
  readonly role?: RoleValue;
}

/** The kind of a committed change. */
export type ChangeKind = "created" | "updated" | "deleted";

/** One committed change, from the change log. */
export interface UserChange {
  /** Position in the change log; strictly increasing in commit order. */
  readonly sequence: bigint;
  readonly kind: ChangeKind;
  /** The user after the change (for "deleted", its last state). */
  readonly user: UserRecord;
  readonly commitTime: Date;
}

/**
 * One page of a snapshot, read in one statement: the users after a cursor in (createTime, id)
 * order, exactly as they were after change `sequence` (the newest change that statement saw).
 */
export interface SnapshotPage {
  readonly users: readonly UserRecord[];
  readonly sequence: bigint;
}

/** Storage for users and their change log. */
export interface UserRepository {
  get(id: string): Promise<UserRecord | undefined>;
  /** @throws EmailTakenError */
  create(user: NewUser): Promise<UserRecord>;
  /**
   * Applies the patch. When `expectedVersion` is given, only if it matches.
   * @throws UserNotFoundError, VersionConflictError, EmailTakenError
   */
  update(id: string, patch: UserPatch, expectedVersion?: number): Promise<UserRecord>;
  /** @throws UserNotFoundError, VersionConflictError */
  delete(id: string, expectedVersion?: number): Promise<UserRecord>;
  /** Users ordered by (createTime, id). */
  list(query: ListQuery): Promise<readonly UserRecord[]>;
  /**
   * Up to `limit` users with (createTime, id) > `after` (all when undefined), in that order,
   * and the change-log position they reflect, read in one statement: a consistent page without
   * a transaction held between pages (see `readSnapshot` for how pages make one snapshot).
   */
  snapshotPage(after: ListCursor | undefined, limit: number): Promise<SnapshotPage>;
  /** The newest change-log position (0n when empty). */
  latestSequence(): Promise<bigint>;
  /** The oldest position still kept in the change log (changes before it were pruned). */
  oldestSequence(): Promise<bigint>;
  /** Up to `limit` changes with sequence > `after`, in sequence order. */
  changesAfter(after: bigint, limit: number): Promise<readonly UserChange[]>;
  /**
   * Calls `listener` soon after any change commits, from this process or another
   * sharing the same database. A hint only: listeners re-read `changesAfter`.
   * Returns the unsubscribe function.
   */
  onCommit(listener: () => void): () => void;
  close(): Promise<void>;
}
