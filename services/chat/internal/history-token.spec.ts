import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, RpcError } from "@trellis/kit";
import { MAX_SEQUENCE, decodeHistoryToken, encodeHistoryToken } from "./history-token.js";

const forged = (fields: Record<string, unknown>): string =>
  Buffer.from(JSON.stringify({ v: 1, r: "general", s: "10", ...fields })).toString("base64url");
const isInvalidArgument = (e: unknown): boolean => e instanceof RpcError && e.code === Code.INVALID_ARGUMENT;

describe("history tokens", () => {
  it("round-trip a sequence for the same room, up to the largest bigint", () => {
    assert.equal(decodeHistoryToken(encodeHistoryToken("general", 42n), "general"), 42n);
    assert.equal(decodeHistoryToken(encodeHistoryToken("general", MAX_SEQUENCE), "general"), MAX_SEQUENCE);
  });

  for (const [name, fields] of [
    ["a sequence beyond 64 bits", { s: (MAX_SEQUENCE + 1n).toString() }],
    ["a sequence of twenty digits", { s: "99999999999999999999" }],
    ["a negative sequence", { s: "-1" }],
    ["a sequence in exponent notation", { s: "1e5" }],
    ["a numeric sequence of 1e300", { s: 1e300 }],
    ["an empty sequence", { s: "" }],
    ["no room", { r: undefined }],
  ] as const) {
    it(`reject a forged token with ${name} with INVALID_ARGUMENT`, () => {
      assert.throws(() => decodeHistoryToken(forged(fields), "general"), isInvalidArgument);
    });
  }

  it("reject a token of another room", () => {
    assert.throws(() => decodeHistoryToken(encodeHistoryToken("general", 5n), "random"), /another room/);
  });
});
