import { create } from "@bufbuild/protobuf";
import { invalidArgument, type FieldViolationInit } from "@trellis/kit";
import { compileValidator } from "@trellis/kit/validation";
import { CreateUserRequestSchema, Role, type CreateUserRequest } from "@trellis/api/trellis/user/v1/user_pb.js";
import type { NewUser, RoleValue, UserPatch } from "./user-repository.js";

/**
 * The business rules for user data. Shape rules (email syntax, lengths, the
 * fixed role set) are declared once in user.proto and enforced by the kit's
 * validator; here they are applied to rows that do not pass through the
 * request validator (ImportUsers), and the rules a .proto cannot express
 * (normalisation, blank names, default role) are added.
 */

/** The roles a new user gets when none are given. */
export const DEFAULT_ROLES: readonly RoleValue[] = [Role.MEMBER];

/** The fields UpdateUser's mask may name. */
export const UPDATABLE_PATHS = ["email", "display_name", "roles"] as const;

const validateCreate = compileValidator(CreateUserRequestSchema);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Emails are compared and stored lower-cased, without surrounding space. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Whether `id` is a UUID in canonical form. */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/**
 * Checks and normalises the fields of a new user.
 * @throws RpcError INVALID_ARGUMENT with field violations
 */
export function checkNewUser(input: Pick<CreateUserRequest, "email" | "displayName" | "roles">, id: string): NewUser {
  const request = create(CreateUserRequestSchema, {
    email: input.email,
    displayName: input.displayName,
    roles: [...input.roles],
  });
  const violations: FieldViolationInit[] = [...validateCreate(request)];
  if (input.displayName !== "" && input.displayName.trim() === "") {
    violations.push({ field: "display_name", description: "must not be blank", reason: "display_name.blank" });
  }
  if (violations.length > 0) throw invalidArgument("user", violations);
  return {
    id,
    email: normalizeEmail(input.email),
    displayName: input.displayName.trim(),
    roles: input.roles.length === 0 ? DEFAULT_ROLES : [...input.roles],
  };
}

/**
 * Turns an UpdateUser request (a user and a field mask) into a patch. The user
 * message's format rules were already enforced by the request validator; this
 * adds what depends on the mask: known paths only, and no emptying of a field
 * the mask names.
 * @throws RpcError INVALID_ARGUMENT with field violations
 */
export function checkPatch(
  user: { readonly id: string; readonly email: string; readonly displayName: string; readonly roles: readonly RoleValue[] },
  paths: readonly string[],
): UserPatch {
  const violations: FieldViolationInit[] = [];
  if (!isUuid(user.id)) violations.push({ field: "user.id", description: "must be a UUID", reason: "string.uuid" });
  const unknown = paths.filter((path) => !(UPDATABLE_PATHS as readonly string[]).includes(path));
  if (unknown.length > 0) {
    violations.push({
      field: "update_mask",
      description: `unknown path ${unknown.map((p) => `"${p}"`).join(", ")}; allowed: ${UPDATABLE_PATHS.join(", ")}`,
      reason: "update_mask.unknown_path",
    });
  }
  if (paths.length === 0) violations.push({ field: "update_mask", description: "must name at least one field", reason: "required" });
  const patch: { email?: string; displayName?: string; roles?: readonly RoleValue[] } = {};
  if (paths.includes("email")) {
    if (user.email === "") violations.push({ field: "user.email", description: "must not be empty", reason: "required" });
    patch.email = normalizeEmail(user.email);
  }
  if (paths.includes("display_name")) {
    if (user.displayName.trim() === "") {
      violations.push({ field: "user.display_name", description: "must not be blank", reason: "display_name.blank" });
    }
    patch.displayName = user.displayName.trim();
  }
  if (paths.includes("roles")) {
    if (user.roles.length === 0) violations.push({ field: "user.roles", description: "must hold at least one role", reason: "required" });
    patch.roles = [...user.roles];
  }
  if (violations.length > 0) throw invalidArgument("update", violations);
  return patch;
}
