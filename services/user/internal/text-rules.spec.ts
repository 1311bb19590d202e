import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, RpcError } from "@trellis/kit";
import { compileValidator } from "@trellis/kit/validation";
import { BadRequestSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import { ImportUsersRequestSchema, UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { textFieldsOf } from "@trellis/kit/testing";
import { versionOf } from "./etag.js";
import { decodePageToken } from "./page-token.js";
import { parseResumeToken } from "./resume-token.js";
import { checkNewUser, checkPatch } from "./user-rules.js";

const NUL = "a\u0000b";
const ID = "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b";

/** The BadRequest field paths `fn` is refused with; fails unless it throws INVALID_ARGUMENT. */
function refusedFields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof RpcError && error.code === Code.INVALID_ARGUMENT, String(error));
    return (error.findDetail(BadRequestSchema)?.fieldViolations ?? []).map((v) => v.field);
  }
  assert.fail("expected INVALID_ARGUMENT");
}

/**
 * Text fields that never reach SQL as text: each is parsed by its own code first, which must
 * refuse a NUL (checked below), so the .proto needs no rule for them.
 */
const PARSED_BEFORE_SQL: Readonly<Record<string, (value: string) => unknown>> = {
  "trellis.user.v1.UpdateUserRequest user.id": (value) =>
    checkPatch({ id: value, email: "", displayName: "x", roles: [] }, ["display_name"]),
  "trellis.user.v1.UpdateUserRequest user.etag": (value) => versionOf(value, "user.etag"),
  "trellis.user.v1.DeleteUserRequest etag": (value) => versionOf(value, "etag"),
  "trellis.user.v1.ListUsersRequest page_token": (value) => decodePageToken(value, "f"),
  "trellis.user.v1.WatchUsersRequest resume_token": (value) => parseResumeToken(value),
};

describe("user text fields: a NUL character (which PostgreSQL text cannot hold) is refused as INVALID_ARGUMENT naming the field", () => {
  for (const method of UserService.methods) {
    if (method.input.typeName === ImportUsersRequestSchema.typeName) continue; // rows are checked one by one, below
    const validate = compileValidator(method.input);
    for (const field of textFieldsOf(method.input)) {
      const key = `${method.input.typeName} ${field.path}`;
      it(`${method.name}: ${field.path}`, () => {
        const parse = PARSED_BEFORE_SQL[key];
        if (parse !== undefined) {
          refusedFields(() => parse(NUL));
          return;
        }
        const violations = validate(field.with(NUL)).filter((v) => v.field === field.path);
        assert.ok(violations.length > 0, `${key} accepts a NUL: add a rule to user.proto (or parse it before SQL and list it here)`);
      });
    }
  }

  for (const field of textFieldsOf(ImportUsersRequestSchema)) {
    it(`ImportUsers rows: ${field.path}`, () => {
      const row = { email: "row@example.com", displayName: "Row", roles: [], ...pick(field.with(NUL)) };
      assert.deepEqual(
        refusedFields(() => checkNewUser(row, ID)),
        [field.path],
      );
    });
  }
});

/** The set string fields of an ImportUsersRequest, as checkNewUser's input. */
function pick(message: object): { email?: string; displayName?: string } {
  const { email, displayName } = message as { email: string; displayName: string };
  return { ...(email === "" ? {} : { email }), ...(displayName === "" ? {} : { displayName }) };
}
