import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, RpcError } from "@trellis/kit";
import { compileValidator } from "@trellis/kit/validation";
import { textFieldsOf } from "@trellis/kit/testing";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { decodeHistoryToken } from "./history-token.js";

const NUL = "a\u0000b";

/**
 * Text fields that never reach SQL as text: each is parsed by its own code first, which must
 * refuse a NUL (checked below), so the .proto needs no rule for them.
 */
const PARSED_BEFORE_SQL: Readonly<Record<string, (value: string) => unknown>> = {
  "trellis.chat.v1.HistoryRequest page_token": (value) => decodeHistoryToken(value, "general"),
};

describe("chat text fields: a NUL character (which PostgreSQL text cannot hold) is refused as INVALID_ARGUMENT naming the field", () => {
  for (const method of ChatService.methods) {
    const validate = compileValidator(method.input);
    for (const field of textFieldsOf(method.input)) {
      const key = `${method.input.typeName} ${field.path}`;
      it(`${method.name}: ${field.path}`, () => {
        const parse = PARSED_BEFORE_SQL[key];
        if (parse !== undefined) {
          assert.throws(
            () => parse(NUL),
            (e: unknown) => e instanceof RpcError && e.code === Code.INVALID_ARGUMENT,
          );
          return;
        }
        const violations = validate(field.with(NUL)).filter((v) => v.field === field.path);
        assert.ok(violations.length > 0, `${key} accepts a NUL: add a rule to chat.proto (or parse it before SQL and list it here)`);
      });
    }
  }
});
