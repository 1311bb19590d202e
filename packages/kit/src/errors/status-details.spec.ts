import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { BadRequestSchema, RequestInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { badRequest, invalidArgument, requestInfo } from "./error-details.js";
import { Code } from "./rpc-error.js";
import { boundStatus, STATUS_LIMITS } from "./status-details.js";

const violations = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ field: `roles[${i}]`, description: "must be a defined Role value", reason: "enum.defined_only" }));

describe("boundStatus", () => {
  it("leaves a status within the limits as it is", () => {
    const status = boundStatus(Code.NOT_FOUND, "user 42 not found", [requestInfo("r-1")]);
    assert.equal(status.message, "user 42 not found");
    const decoded = fromBinary(StatusSchema, status.details);
    assert.equal(decoded.details.length, 1);
  });

  it("sheds field violations until the details fit, keeping the request id", () => {
    const status = boundStatus(Code.INVALID_ARGUMENT, "invalid", [badRequest(violations(100)), requestInfo("r-1")]);
    assert.ok(status.details.length <= STATUS_LIMITS.detailsBytes, `${status.details.length} bytes`);
    const decoded = fromBinary(StatusSchema, status.details);
    const bad = anyUnpack(decoded.details[0]!, BadRequestSchema);
    assert.ok(bad !== undefined && bad.fieldViolations.length > 0 && bad.fieldViolations.length < 100);
    assert.equal(bad.fieldViolations[0]?.field, "roles[0]");
    assert.equal(anyUnpack(decoded.details[1]!, RequestInfoSchema)?.requestId, "r-1");
  });

  it("cuts a long message so that its percent-encoded form fits", () => {
    const status = boundStatus(Code.INVALID_ARGUMENT, "é".repeat(10_000), []);
    assert.ok(encodeURI(status.message).length <= STATUS_LIMITS.messageBytes);
    assert.ok(status.message.endsWith("…"));
  });

  it("never splits a surrogate pair and replaces lone surrogates (encodeURI would throw)", () => {
    const status = boundStatus(Code.INVALID_ARGUMENT, `bad \ud800 ${"😀".repeat(2_000)}`, []);
    assert.doesNotThrow(() => encodeURI(status.message));
    assert.match(status.message, /^bad \ufffd 😀/);
  });
});

describe("invalidArgument", () => {
  it("names the first ten violations in the message and counts the rest", () => {
    const error = invalidArgument("CreateUserRequest", violations(100), 2_999_900);
    assert.match(
      error.message,
      /^invalid CreateUserRequest: roles\[0\]: must be a defined Role value; .*roles\[9\]: must be a defined Role value; and 2999990 more$/,
    );
    assert.equal(error.findDetail(BadRequestSchema)?.fieldViolations.length, 100);
  });
});
