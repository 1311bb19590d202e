import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, RpcError } from "@trellis/kit";
import { MAX_SEQUENCE, parseResumeToken, resumeTokenOf } from "./resume-token.js";

describe("resume tokens", () => {
  it("round-trip every position up to the largest bigint", () => {
    for (const sequence of [0n, 1n, 123_456_789n, MAX_SEQUENCE]) assert.equal(parseResumeToken(resumeTokenOf(sequence)), sequence);
  });

  for (const token of [
    (MAX_SEQUENCE + 1n).toString(),
    "9999999999999999999",
    "18446744073709551615",
    "-1",
    "1e3",
    " 1",
    "0x10",
    "",
    "yesterday",
  ]) {
    it(`reject ${JSON.stringify(token)} with INVALID_ARGUMENT naming resume_token`, () => {
      assert.throws(
        () => parseResumeToken(token),
        (e: unknown) => e instanceof RpcError && e.code === Code.INVALID_ARGUMENT && e.message.startsWith("resume_token"),
      );
    });
  }
});
