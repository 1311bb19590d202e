import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, RpcError } from "@trellis/kit";
import { decodePageToken, encodePageToken, filterFingerprint } from "./page-token.js";

const cursor = { createTime: new Date("2026-11-21T10:00:00.123Z"), id: "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b" };

describe("page tokens", () => {
  it("round-trip the cursor for the same filter", () => {
    const filter = filterFingerprint("ada", 0);
    assert.deepEqual(decodePageToken(encodePageToken({ cursor, filter }), filter), cursor);
  });

  for (const garbage of ["garbage", "", "!!!", Buffer.from('{"v":1,"t":"x","i":"y","f":"z"}').toString("base64url"), Buffer.from("null").toString("base64url")]) {
    it(`reject ${JSON.stringify(garbage)} with INVALID_ARGUMENT`, () => {
      assert.throws(() => decodePageToken(garbage, "f"), (e: unknown) => e instanceof RpcError && e.code === Code.INVALID_ARGUMENT);
    });
  }

  it("reject a token issued for another query", () => {
    const token = encodePageToken({ cursor, filter: filterFingerprint("ada", 0) });
    assert.throws(() => decodePageToken(token, filterFingerprint("bob", 0)), /different query/);
  });
});
