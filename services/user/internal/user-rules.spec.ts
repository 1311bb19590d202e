import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BadRequestSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import { Code, RpcError } from "@trellis/kit";
import { Role } from "@trellis/api/trellis/user/v1/user_pb.js";
import { checkNewUser, checkPatch, normalizeEmail } from "./user-rules.js";

const ID = "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b";

function violationsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof RpcError);
    assert.equal(error.code, Code.INVALID_ARGUMENT);
    return (error.findDetail(BadRequestSchema)?.fieldViolations ?? []).map((v) => `${v.field}:${v.reason}`);
  }
  assert.fail("expected INVALID_ARGUMENT");
}

describe("user rules: new users", () => {
  it("normalises email case, trims the name, defaults the role", () => {
    const user = checkNewUser({ email: "Ada@Example.COM", displayName: "  Ada  ", roles: [] }, ID);
    assert.deepEqual(user, { id: ID, email: "ada@example.com", displayName: "Ada", roles: [Role.MEMBER] });
  });

  it("rejects a malformed email", () => {
    assert.deepEqual(
      violationsOf(() => checkNewUser({ email: "ada@", displayName: "Ada", roles: [] }, ID)),
      ["email:string.email"],
    );
  });

  it("requires email and name", () => {
    assert.deepEqual(violationsOf(() => checkNewUser({ email: "", displayName: "", roles: [] }, ID)).sort(), [
      "display_name:required",
      "email:required",
    ]);
  });

  it("rejects a blank name and one over 100 characters", () => {
    assert.deepEqual(
      violationsOf(() => checkNewUser({ email: "a@b.co", displayName: "   ", roles: [] }, ID)),
      ["display_name:display_name.blank"],
    );
    assert.deepEqual(
      violationsOf(() => checkNewUser({ email: "a@b.co", displayName: "n".repeat(101), roles: [] }, ID)),
      ["display_name:string.max_len"],
    );
  });

  it("counts name length in characters, not bytes", () => {
    assert.equal(checkNewUser({ email: "a@b.co", displayName: "é".repeat(100), roles: [] }, ID).displayName.length, 100);
  });

  it("accepts only roles from the fixed set, each once", () => {
    assert.deepEqual(
      violationsOf(() => checkNewUser({ email: "a@b.co", displayName: "A", roles: [Role.UNSPECIFIED] }, ID)),
      ["roles[0]:enum.not_in"],
    );
    assert.deepEqual(
      violationsOf(() => checkNewUser({ email: "a@b.co", displayName: "A", roles: [42 as Role] }, ID)),
      ["roles[0]:enum.defined_only"],
    );
    assert.deepEqual(
      violationsOf(() => checkNewUser({ email: "a@b.co", displayName: "A", roles: [Role.ADMIN, Role.ADMIN] }, ID)),
      ["roles:repeated.unique"],
    );
  });

  it("normalizeEmail lower-cases", () => {
    assert.equal(normalizeEmail(" X@Y.Z "), "x@y.z");
  });
});

describe("user rules: updates", () => {
  const user = { id: ID, email: "", displayName: "", roles: [] as Role[] };

  it("builds a patch of the masked fields only", () => {
    assert.deepEqual(checkPatch({ ...user, email: "New@Example.com", displayName: "ignored" }, ["email"]), { email: "new@example.com" });
  });

  it("rejects unknown mask paths, an empty mask, and emptying a masked field", () => {
    assert.deepEqual(
      violationsOf(() => checkPatch(user, ["id"])),
      ["update_mask:update_mask.unknown_path"],
    );
    assert.deepEqual(
      violationsOf(() => checkPatch(user, [])),
      ["update_mask:required"],
    );
    assert.deepEqual(violationsOf(() => checkPatch(user, ["email", "display_name", "roles"])).sort(), [
      "user.display_name:display_name.blank",
      "user.email:required",
      "user.roles:required",
    ]);
  });

  it("requires a UUID id", () => {
    assert.deepEqual(
      violationsOf(() => checkPatch({ ...user, id: "42", displayName: "x" }, ["display_name"])),
      ["user.id:string.uuid"],
    );
  });
});
