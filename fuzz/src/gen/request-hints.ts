import fc from "fast-check";
import type { FieldHints } from "./message-arbitrary.js";
import {
  emailLike,
  hostileEnum,
  hostileInt32,
  hostileJsonValue,
  hostileList,
  hostileString,
  pageTokenLike,
  ref,
  resumeTokenLike,
  roomLike,
  uuidLike,
} from "./hostile-values.js";

/**
 * What the fuzzer knows about the services' fields: which strings are emails,
 * ids, tokens or room names, so that valid-shaped requests reach past the
 * validator as often as they stop at it. Fields not named here get the
 * generic hostile values for their type.
 */

const displayName = fc.oneof(
  fc.constantFrom("Ada Lovelace", "Grace Hopper", "李小龍", "Zoë", "O'Brien", "  padded  "),
  fc.string({ minLength: 1, maxLength: 30 }),
);

const forgedUserPageToken = fc.record(
  { v: fc.oneof(fc.constant(1), hostileJsonValue()), t: hostileJsonValue(), i: fc.oneof(fc.uuid(), hostileJsonValue()), f: fc.oneof(fc.string({ maxLength: 12 }), hostileJsonValue()) },
  { requiredKeys: [] },
);

const forgedHistoryToken = fc.record(
  { v: fc.oneof(fc.constant(1), hostileJsonValue()), r: fc.oneof(roomLike(), hostileJsonValue()), s: fc.oneof(fc.constantFrom("0", "1", "-1", "9223372036854775807", "9223372036854775808", "9999999999999999999", "1e3"), hostileJsonValue()) },
  { requiredKeys: [] },
);

const maskPath = fc.oneof(
  { arbitrary: fc.constantFrom("email", "display_name", "roles"), weight: 6 },
  { arbitrary: fc.constantFrom("id", "etag", "create_time", "", "*", "user.email", "displayName", "EMAIL", "roles.0", "email\u0000"), weight: 2 },
  { arbitrary: hostileString(), weight: 1 },
);

const etagLike = fc.oneof(
  { arbitrary: fc.constant(""), weight: 4 },
  { arbitrary: ref("etag", ["none", "none", "upper", "pad", "nul", "truncate"]), weight: 4 },
  { arbitrary: fc.constantFrom("v0", "v1", "v-1", "v1.5", "v99999999999999999999", "V1", "1", "v", "v\u0000"), weight: 2 },
  { arbitrary: hostileString({ maxLen: 64 }), weight: 1 },
);

const roles = hostileList(hostileEnum([1, 2, 3]), fc.constantFrom(1, 4, 0));

/** Field hints for every request of UserService and ChatService. */
export function requestHints(): FieldHints {
  return new Map<string, fc.Arbitrary<unknown>>([
    ["*.email", emailLike()],
    ["*.display_name", hostileString({ valid: displayName, maxLen: 100 })],
    ["*.roles", roles],
    ["*.etag", etagLike],
    ["trellis.user.v1.GetUserRequest.id", uuidLike(["userId"])],
    ["trellis.user.v1.DeleteUserRequest.id", uuidLike(["userId"])],
    ["trellis.user.v1.User.id", uuidLike(["userId"])],
    ["trellis.user.v1.ListUsersRequest.page_size", hostileInt32(fc.integer({ min: 0, max: 20 }))],
    ["trellis.user.v1.ListUsersRequest.page_token", pageTokenLike("pageToken", forgedUserPageToken)],
    ["trellis.user.v1.ListUsersRequest.query", hostileString({ valid: fc.constantFrom("example", "a", "@", "ada", "EXAMPLE.COM", "%", "_", ""), maxLen: 100 })],
    ["trellis.user.v1.ListUsersRequest.role", hostileEnum([0, 1, 2, 3])],
    ["trellis.user.v1.WatchUsersRequest.include_snapshot", fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 })],
    ["trellis.user.v1.WatchUsersRequest.resume_token", resumeTokenLike()],
    ["google.protobuf.FieldMask.paths", hostileList(maskPath, fc.constant("email"))],
    ["*.room", roomLike()],
    ["*.sender_id", uuidLike(["chatUserId"])],
    ["*.user_id", uuidLike(["chatUserId"])],
    ["*.text", hostileString({ valid: fc.constantFrom("hello", "hi there", "👋", "a"), maxLen: 2000 })],
    ["trellis.chat.v1.HistoryRequest.page_size", hostileInt32(fc.integer({ min: 0, max: 20 }))],
    ["trellis.chat.v1.HistoryRequest.page_token", pageTokenLike("historyToken", forgedHistoryToken)],
  ]);
}

/**
 * Hints for a chat stream that must not be able to write: its joins name only
 * users that do not exist, so no message of it may ever be stored.
 */
export function blindChatHints(): FieldHints {
  const hints = new Map(requestHints());
  hints.set("*.user_id", fc.oneof(fc.uuid(), fc.constantFrom("", "not-a-uuid", "00000000-0000-0000-0000-000000000000"), hostileString()));
  return hints;
}
