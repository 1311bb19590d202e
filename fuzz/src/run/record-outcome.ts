import {
  ChatRequestSchema,
  HistoryRequestSchema,
  HistoryResponseSchema,
  SendRequestSchema,
  SendResponseSchema,
  SubscribeRequestSchema,
} from "@trellis/api/trellis/chat/v1/chat_pb.js";
import {
  CreateUserRequestSchema,
  CreateUserResponseSchema,
  DeleteUserRequestSchema,
  ImportUsersRequestSchema,
  ImportUsersResponseSchema,
  ListUsersResponseSchema,
  UpdateUserRequestSchema,
  UpdateUserResponseSchema,
  WatchUsersResponseSchema,
} from "@trellis/api/trellis/user/v1/user_pb.js";
import type { ImportRow } from "../oracle/user-ledger.js";
import { show, type Violation } from "../oracle/violation.js";
import type { CallOutcome } from "../wire/grpc-call.js";
import { tryDecode } from "./codec.js";
import type { FuzzWorld } from "./fuzz-world.js";
import type { FuzzMethod } from "./methods.js";

/**
 * Tells the ledgers what a call did, from the request messages as the server
 * saw them (`seen`: undefined for one the fuzzer cannot decode) and how it
 * ended: OK calls' writes are expected; a hung call's may or may not have
 * happened; a call that ended with any other status or a reset wrote nothing.
 * Also keeps the page tokens responses carried, for later cases. A call sent
 * to another path than `method`'s (`how.toMethod` false) is only noted: it
 * must write nothing at all. `how.complete`: whether the client half-closed.
 */
export function recordOutcome(
  world: FuzzWorld,
  method: FuzzMethod,
  seen: readonly (Buffer | undefined)[],
  outcome: CallOutcome,
  source: string,
  how: { readonly toMethod: boolean; readonly complete: boolean } = { toMethod: true, complete: true },
): Violation[] {
  const ok = how.toMethod && outcome.grpcStatus === 0;
  // A hung call may have done anything; a complete request that ran into its deadline may have
  // been committed just before it (gRPC's deadline race). An incomplete one must not have run.
  const unknown = how.toMethod && (outcome.kind === "hang" || (outcome.grpcStatus === 4 && how.complete));
  for (const bytes of seen) {
    // Every UUID a request carries, so that a stray write to one can be traced to the calls that named it.
    for (const id of bytes?.toString("latin1").match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi) ?? [])
      world.userLedger.note(id, source);
  }
  const response = outcome.messages[0];
  const violations: Violation[] = [];
  const undecodable = (what: string): void =>
    void violations.push({ property: "a decodable OK response", detail: `${method.name} said OK but its response is not a ${what}` });
  const first = seen[0];
  switch (method.name) {
    case "UserService/CreateUser": {
      const request = first === undefined ? undefined : tryDecode(CreateUserRequestSchema, first);
      if (request !== undefined) world.userLedger.note(request.email.trim(), source);
      if (ok) {
        const user = response === undefined ? undefined : tryDecode(CreateUserResponseSchema, response)?.user;
        if (user === undefined) undecodable("CreateUserResponse with a user");
        else world.userLedger.created(user, source);
      } else if (unknown) {
        world.userLedger.mayHaveWritten([request], source);
      }
      break;
    }
    case "UserService/UpdateUser": {
      const request = first === undefined ? undefined : tryDecode(UpdateUserRequestSchema, first);
      if (request?.user !== undefined) world.userLedger.note(request.user.id, source);
      if (ok) {
        const user = response === undefined ? undefined : tryDecode(UpdateUserResponseSchema, response)?.user;
        if (user === undefined) undecodable("UpdateUserResponse with a user");
        else world.userLedger.updated(user, source);
      } else if (unknown) {
        world.userLedger.mayHaveChanged(request?.user?.id, source);
      }
      break;
    }
    case "UserService/DeleteUser": {
      const request = first === undefined ? undefined : tryDecode(DeleteUserRequestSchema, first);
      if (request !== undefined) world.userLedger.note(request.id, source);
      if (ok) {
        if (request === undefined) world.userLedger.deletedUnknown(source);
        else world.userLedger.deleted(request.id.toLowerCase(), source);
      } else if (unknown) {
        world.userLedger.mayHaveChanged(request?.id, source);
      }
      break;
    }
    case "UserService/ImportUsers": {
      const rows: (ImportRow | undefined)[] = seen.map((bytes) =>
        bytes === undefined ? undefined : tryDecode(ImportUsersRequestSchema, bytes),
      );
      for (const row of rows) if (row !== undefined) world.userLedger.note(row.email.trim(), source);
      if (ok) {
        const summary = response === undefined ? undefined : tryDecode(ImportUsersResponseSchema, response);
        if (summary === undefined) {
          undecodable("ImportUsersResponse");
          world.userLedger.mayHaveWritten(rows, source);
        } else {
          if (
            summary.receivedCount !== rows.length ||
            summary.failedCount !== summary.failures.length ||
            summary.createdCount + summary.failedCount !== summary.receivedCount
          ) {
            violations.push({
              property: "an exact ImportUsers summary",
              detail: `sent ${rows.length} rows; summary says received ${summary.receivedCount}, created ${summary.createdCount}, failed ${summary.failedCount} (${summary.failures.length} listed)`,
            });
            world.userLedger.mayHaveWritten(rows, source);
          } else {
            world.userLedger.imported(rows, new Set(summary.failures.map((f) => f.index)), source);
          }
        }
      } else {
        // Rows are committed one by one (README): a failed import may leave the
        // rows it processed, never one past the first the server could not decode.
        const firstBad = rows.indexOf(undefined);
        world.userLedger.mayHaveWritten(firstBad === -1 ? rows : rows.slice(0, firstBad), source);
      }
      break;
    }
    case "UserService/ListUsers":
      if (ok && response !== undefined) world.addPageToken("user", tryDecode(ListUsersResponseSchema, response)?.nextPageToken ?? "");
      break;
    case "UserService/WatchUsers":
      for (const message of outcome.messages) {
        const change = tryDecode(WatchUsersResponseSchema, message);
        if (change === undefined) violations.push({ property: "a decodable response", detail: `WatchUsers sent ${show(message)}` });
      }
      break;
    case "ChatService/Send": {
      const request = first === undefined ? undefined : tryDecode(SendRequestSchema, first);
      if (request !== undefined) {
        world.chatLedger.touched(request.room);
        world.chatLedger.note(request.room, source);
      }
      if (ok) {
        const message = response === undefined ? undefined : tryDecode(SendResponseSchema, response)?.message;
        if (message === undefined) undecodable("SendResponse with a message");
        else world.chatLedger.sent(message, source);
      } else if (unknown && request !== undefined) {
        for (const id of world.chatUserIds) world.chatLedger.maySend(id, request.room, request.text, source);
      }
      break;
    }
    case "ChatService/History": {
      const request = first === undefined ? undefined : tryDecode(HistoryRequestSchema, first);
      if (request !== undefined) world.chatLedger.touched(request.room);
      if (ok && response !== undefined) world.addPageToken("history", tryDecode(HistoryResponseSchema, response)?.nextPageToken ?? "");
      break;
    }
    case "ChatService/Subscribe": {
      const request = first === undefined ? undefined : tryDecode(SubscribeRequestSchema, first);
      if (request !== undefined) world.chatLedger.touched(request.room);
      break;
    }
    case "ChatService/Chat":
      for (const bytes of seen) {
        const request = bytes === undefined ? undefined : tryDecode(ChatRequestSchema, bytes);
        if (request?.action.case !== undefined) {
          world.chatLedger.touched(request.action.value.room);
          world.chatLedger.note(request.action.value.room, source);
        }
      }
      break;
  }
  return violations;
}
