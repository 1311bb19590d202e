import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { Code } from "../errors/rpc-error.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { decodePageToken, encodePageToken, invalidPageToken } from "./page-token.js";

const readCursor = (payload: Readonly<Record<string, unknown>>): { id: string; n: number } | undefined =>
  typeof payload["id"] === "string" && typeof payload["n"] === "number" ? { id: payload["id"], n: payload["n"] } : undefined;

describe("page tokens", () => {
  it("round-trips a payload through a URL-safe token", () => {
    const token = encodePageToken({ id: "a/b+c?", n: 42 });
    assert.match(token, /^[\w-]+$/);
    assert.deepEqual(decodePageToken(token, readCursor), { id: "a/b+c?", n: 42 });
  });

  for (const [name, token] of [
    ["not base64 JSON", "%%%not-a-token"],
    ["JSON of another shape", Buffer.from("[1,2]").toString("base64url")],
    ["another format version", Buffer.from(JSON.stringify({ v: 2, id: "x", n: 1 })).toString("base64url")],
    ["fields the service does not issue", encodePageToken({ id: "x", n: "one" })],
    ["empty", ""],
    ["a number beyond the safe integers (1e300)", Buffer.from('{"v":1,"id":"x","n":1e300}').toString("base64url")],
    ["a fraction", Buffer.from('{"v":1,"id":"x","n":0.5}').toString("base64url")],
    ["a nested object", Buffer.from('{"v":1,"id":{"$gt":""},"n":1}').toString("base64url")],
    ["longer than any token issued", encodePageToken({ id: "x".repeat(5000), n: 1 })],
  ] as const) {
    it(`refuses a token that is ${name} with INVALID_ARGUMENT naming page_token`, async () => {
      const error = await rpcFailure(() => decodePageToken(token, readCursor));
      assert.equal(error.code, Code.INVALID_ARGUMENT);
      assert.equal(error.findDetail(BadRequestSchema)?.fieldViolations[0]?.field, "page_token");
    });
  }

  it("turns anything else the reader throws into INVALID_ARGUMENT, not INTERNAL", async () => {
    const error = await rpcFailure(() => decodePageToken(encodePageToken({ s: "1e5" }), ({ s }) => BigInt(String(s))));
    assert.equal(error.code, Code.INVALID_ARGUMENT);
    assert.equal(error.findDetail(BadRequestSchema)?.fieldViolations[0]?.field, "page_token");
  });

  it("refuses to encode a number a decoder would refuse", () => {
    assert.throws(() => encodePageToken({ n: 0.5 }), RangeError);
    assert.throws(() => encodePageToken({ n: 2 ** 53 }), RangeError);
  });

  it("passes on the service's own reason", async () => {
    const error = await rpcFailure(() =>
      decodePageToken(encodePageToken({ id: "x", n: 1 }), () => {
        throw invalidPageToken("belongs to another room");
      }),
    );
    assert.equal(error.message, "page_token belongs to another room");
  });
});
