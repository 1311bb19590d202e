import { randomUUID } from "node:crypto";
import { setImmediate as nextLoopTurn } from "node:timers/promises";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { badRequest, Code, RpcError, type ServiceImpl } from "@trellis/kit";
import {
  ChangeType,
  ImportFailureSchema,
  UserSchema,
  type ImportFailure,
  type Role,
  type UserService,
  type WatchUsersResponseSchema,
} from "@trellis/api/trellis/user/v1/user_pb.js";
import type { ChangeFeed } from "./change-feed.js";
import { etagOf, versionOf } from "./etag.js";
import { mapDomainError } from "./map-domain-error.js";
import { decodePageToken, encodePageToken, filterFingerprint } from "./page-token.js";
import { parseResumeToken, resumeTokenOf } from "./resume-token.js";
import { createSnapshotLimiter, type SnapshotLimiter } from "./snapshot-limiter.js";
import { readSnapshot } from "./snapshot-reader.js";
import { checkNewUser, checkPatch } from "./user-rules.js";
import { SnapshotsBusyError, UserNotFoundError } from "./user-errors.js";
import type { ChangeKind, UserChange, UserRecord, UserRepository } from "./user-repository.js";

/** What the handlers need. */
export interface UserHandlerDeps {
  readonly repository: UserRepository;
  readonly feed: ChangeFeed;
  /** @default crypto.randomUUID */
  readonly newId?: () => string;
  /** ListUsers page size when the request says 0. @default 50 */
  readonly defaultPageSize?: number;
  /** Larger page sizes are lowered to this. @default 1000 */
  readonly maxPageSize?: number;
  /** How many ImportUsers failures the summary lists. @default 1000 */
  readonly maxReportedFailures?: number;
  /**
   * ImportUsers rows handled between two event-loop turns. Rows arrive in bursts of thousands
   * per read, and rows that need no database work (invalid ones) would otherwise be handled in
   * one go while no other connection is read. @default 100
   */
  readonly importRowsPerTurn?: number;
  /** Resolves after pending I/O had a turn. @default setImmediate from node:timers/promises */
  readonly nextTurn?: () => Promise<unknown>;
  /** Bounds the include_snapshot watches read at once. @default createSnapshotLimiter() (4 at once, 120 s each) */
  readonly snapshots?: SnapshotLimiter;
  /** Users per snapshot read (one page is what a snapshot holds in memory). @default 500 */
  readonly snapshotPageSize?: number;
}

type WatchEvent = MessageInitShape<typeof WatchUsersResponseSchema>;

/** Characters of a failure's message the ImportUsers summary keeps: 1000 failures stay well under a message limit. */
const MAX_FAILURE_MESSAGE = 1024;

const CHANGE_TYPES: Readonly<Record<ChangeKind, ChangeType>> = {
  created: ChangeType.CREATED,
  updated: ChangeType.UPDATED,
  deleted: ChangeType.DELETED,
};

/** The UserService handlers: request → business rules → repository → response. */
export function createUserHandlers(deps: UserHandlerDeps): ServiceImpl<typeof UserService> {
  const { repository, feed } = deps;
  const newId = deps.newId ?? randomUUID;
  const defaultPageSize = deps.defaultPageSize ?? 50;
  const maxPageSize = deps.maxPageSize ?? 1000;
  const maxReportedFailures = deps.maxReportedFailures ?? 1000;
  const importRowsPerTurn = Math.max(1, deps.importRowsPerTurn ?? 100);
  const nextTurn = deps.nextTurn ?? (() => nextLoopTurn());
  const snapshots = deps.snapshots ?? createSnapshotLimiter();
  const snapshotPageSize = deps.snapshotPageSize ?? 500;

  return {
    async getUser(request) {
      const record = await repository.get(request.id);
      if (record === undefined) throw mapDomainError(new UserNotFoundError(request.id));
      return { user: toUser(record) };
    },

    async createUser(request) {
      const record = await repository.create(checkNewUser(request, newId())).catch(rethrowMapped);
      return { user: toUser(record) };
    },

    async updateUser(request) {
      const user = request.user ?? create(UserSchema);
      const patch = checkPatch(user, request.updateMask?.paths ?? []);
      const expected = versionOf(user.etag, "user.etag");
      const record = await repository.update(user.id, patch, expected).catch(rethrowMapped);
      return { user: toUser(record) };
    },

    async deleteUser(request) {
      const expected = versionOf(request.etag, "etag");
      await repository.delete(request.id, expected).catch(rethrowMapped);
      return {};
    },

    async listUsers(request) {
      const query = request.query.trim();
      const filter = filterFingerprint(query, request.role);
      const pageSize = Math.min(request.pageSize === 0 ? defaultPageSize : request.pageSize, maxPageSize);
      const after = request.pageToken === "" ? undefined : decodePageToken(request.pageToken, filter);
      const rows = await repository.list({
        limit: pageSize + 1,
        ...(after === undefined ? {} : { after }),
        ...(query === "" ? {} : { query }),
        ...(request.role === 0 ? {} : { role: request.role }),
      });
      const page = rows.slice(0, pageSize);
      const last = page[page.length - 1];
      const nextPageToken =
        rows.length > pageSize && last !== undefined
          ? encodePageToken({ cursor: { createTime: last.createTime, id: last.id }, filter })
          : "";
      return { users: page.map(toUser), nextPageToken };
    },

    async *watchUsers(request, context): AsyncIterable<WatchEvent> {
      if (request.includeSnapshot && request.resumeToken !== "") {
        throw new RpcError(Code.INVALID_ARGUMENT, "include_snapshot and resume_token cannot be used together", {
          details: [
            badRequest([{ field: "resume_token", description: "must be empty when include_snapshot is set", reason: "exclusive" }]),
          ],
        });
      }
      let after: bigint;
      if (request.resumeToken !== "") {
        after = parseResumeToken(request.resumeToken);
      } else if (request.includeSnapshot) {
        const slot = snapshots.tryAcquire();
        if (slot === undefined) throw mapDomainError(new SnapshotsBusyError(snapshots.limit));
        after = 0n;
        try {
          for await (const item of readSnapshot(repository, AbortSignal.any([context.signal, slot.expired]), {
            pageSize: snapshotPageSize,
          })) {
            if (item.kind === "existing") yield { type: ChangeType.EXISTING, user: toUser(item.user) };
            else if (item.kind === "change") yield toChangeEvent(item.change);
            else after = item.sequence;
          }
        } catch (error) {
          throw mapDomainError(error);
        } finally {
          slot.release();
        }
        yield { type: ChangeType.SNAPSHOT_END, resumeToken: resumeTokenOf(after) };
      } else {
        after = await repository.latestSequence();
      }
      // Every change after `after` will be delivered: say so now (response headers), so a
      // client — a browser showing "live" — knows before the first change, however long that takes.
      context.sendHeader?.();
      try {
        for await (const change of feed.watch(after, context.signal)) yield toChangeEvent(change);
      } catch (error) {
        throw mapDomainError(error);
      }
    },

    async importUsers(requests) {
      let received = 0;
      let created = 0;
      const failures: ImportFailure[] = [];
      let failed = 0;
      for await (const row of requests) {
        const index = received;
        received += 1;
        if (received % importRowsPerTurn === 0) await nextTurn();
        try {
          await repository.create(checkNewUser(row, newId())).catch(rethrowMapped);
          created += 1;
        } catch (error) {
          if (!(error instanceof RpcError) || error.code === Code.INTERNAL) throw error;
          failed += 1;
          if (failures.length < maxReportedFailures) {
            failures.push(
              create(ImportFailureSchema, {
                index,
                email: row.email.slice(0, 254),
                code: error.code,
                message: error.message.slice(0, MAX_FAILURE_MESSAGE),
              }),
            );
          }
        }
      }
      return { receivedCount: received, createdCount: created, failedCount: failed, failures };
    },
  };
}

function toChangeEvent(change: UserChange): WatchEvent {
  return {
    type: CHANGE_TYPES[change.kind],
    user: toUser(change.user),
    resumeToken: resumeTokenOf(change.sequence),
    commitTime: timestampOf(change.commitTime),
  };
}

function rethrowMapped(error: unknown): never {
  throw mapDomainError(error);
}

/**
 * The API view of a stored user, as a plain init object: the kit's compiled
 * codec encodes it as is, so no message is built with `create()` (which filled
 * defaults per field and showed up in profiles).
 */
export function toUser(record: UserRecord): UserInit {
  return {
    id: record.id,
    email: record.email,
    displayName: record.displayName,
    roles: record.roles as Role[],
    etag: etagOf(record.version),
    createTime: timestampOf(record.createTime),
    updateTime: timestampOf(record.updateTime),
  };
}

type UserInit = MessageInitShape<typeof UserSchema>;

function timestampOf(date: Date): { seconds: bigint; nanos: number } {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}
