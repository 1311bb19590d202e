import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, RpcError } from "@trellis/kit";
import { CURSOR_TIME_RANGE_MS, decodePageToken, encodePageToken, filterFingerprint } from "./page-token.js";

const cursor = { createTime: new Date("2026-11-21T10:00:00.123Z"), id: "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b" };

describe("page tokens", () => {
  it("round-trip the cursor for the same filter", () => {
    const filter = filterFingerprint("ada", 0);
    assert.deepEqual(decodePageToken(encodePageToken({ cursor, filter }), filter), cursor);
  });

  for (const garbage of [
    "garbage",
    "",
    "!!!",
    Buffer.from('{"v":1,"t":"x","i":"y","f":"z"}').toString("base64url"),
    Buffer.from("null").toString("base64url"),
  ]) {
    it(`reject ${JSON.stringify(garbage)} with INVALID_ARGUMENT`, () => {
      assert.throws(
        () => decodePageToken(garbage, "f"),
        (e: unknown) => e instanceof RpcError && e.code === Code.INVALID_ARGUMENT,
      );
    });
  }

  const forged = (fields: Record<string, unknown>): string =>
    Buffer.from(JSON.stringify({ v: 1, t: cursor.createTime.getTime(), i: cursor.id, f: "f", ...fields })).toString("base64url");
  for (const [name, fields] of [
    ["a time of 1e300", { t: 1e300 }],
    ["a time beyond what a Date holds", { t: 8.64e15 + 1 }],
    ["a time after year 9999", { t: Date.UTC(10_000, 0, 1) }],
    ["a time before the epoch", { t: -1 }],
    ["a fractional time", { t: 1.5 }],
    ["a time as a string", { t: "2026-11-21" }],
    ["an id that is not a UUID", { i: "'; DROP TABLE users; --" }],
    ["a missing filter", { f: undefined }],
  ] as const) {
    it(`reject a forged token with ${name} with INVALID_ARGUMENT`, () => {
      assert.throws(
        () => decodePageToken(forged(fields), "f"),
        (e: unknown) => e instanceof RpcError && e.code === Code.INVALID_ARGUMENT,
      );
    });
  }

  it("accept the extremes of the time range", () => {
    for (const t of [CURSOR_TIME_RANGE_MS.min, CURSOR_TIME_RANGE_MS.max]) {
      assert.equal(decodePageToken(forged({ t }), "f").createTime.getTime(), t);
    }
  });

  it("reject a token issued for another query", () => {
    const token = encodePageToken({ cursor, filter: filterFingerprint("ada", 0) });
    assert.throws(() => decodePageToken(token, filterFingerprint("bob", 0)), /different query/);
  });
});
