import type { MessageShape } from "@bufbuild/protobuf";
import { defineRules, selfOrRole, type Principal } from "@trellis/kit/security";
import { UserService, type UpdateUserRequestSchema } from "@trellis/api/trellis/user/v1/user_pb.js";

/** The role a token's `roles` claim carries for administrators. */
export const ADMIN_ROLE = "admin";

type UpdateUserRequest = MessageShape<typeof UpdateUserRequestSchema>;

/**
 * The user themself may change their email and display name; only an
 * administrator may change anyone's roles (or they could make themselves one).
 */
function mayUpdate(principal: Principal, request: UpdateUserRequest | undefined): boolean {
  if (principal.roles.includes(ADMIN_ROLE)) return true;
  const paths = request?.updateMask?.paths ?? [];
  if (paths.includes("roles")) return false;
  return selfOrRole<UpdateUserRequest>((r) => r.user?.id)(principal, request);
}

/**
 * Who may call the user service (see the README's Security section). Peers:
 * only chat (resolving senders) and the edge (callers from outside) — checked
 * under mTLS. Users: a token's `sub` is the user's id, `roles` holds "admin"
 * for administrators — checked when tokens are verified. Chat's lookups run
 * without an end user (a live chat session outlasts tokens), so chat needs no
 * user for GetUser; everything through the edge needs one.
 */
export const userAuthorization = defineRules(UserService, {
  getUser: [{ peers: ["chat"] }, { peers: ["edge"], user: "authenticated" }],
  listUsers: [{ peers: ["edge"], user: "authenticated" }],
  watchUsers: [{ peers: ["edge"], user: "authenticated" }],
  createUser: [{ peers: ["edge"], user: { anyRole: [ADMIN_ROLE] } }],
  updateUser: [{ peers: ["edge"], user: mayUpdate }],
  deleteUser: [{ peers: ["edge"], user: { self: (request) => request.id, orRole: [ADMIN_ROLE] } }],
  importUsers: [{ peers: ["edge"], user: { anyRole: [ADMIN_ROLE] } }],
});
