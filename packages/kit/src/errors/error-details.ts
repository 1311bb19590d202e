import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import {
  BadRequestSchema,
  BadRequest_FieldViolationSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  PreconditionFailure_ViolationSchema,
  RequestInfoSchema,
  ResourceInfoSchema,
  RetryInfoSchema,
} from "../gen/google/rpc/error_details_pb.js";
import { Code, RpcError, type ErrorDetail } from "./rpc-error.js";

/** One invalid field, as in google.rpc.BadRequest.FieldViolation. */
export interface FieldViolationInit {
  /** Path of the field (`user.email`, `roles[1]`). */
  readonly field: string;
  readonly description: string;
  /** A stable machine-readable reason (`string.email`). @default "" */
  readonly reason?: string;
}

/** google.rpc.BadRequest listing the invalid fields. */
export function badRequest(violations: readonly FieldViolationInit[]): ErrorDetail<typeof BadRequestSchema> {
  return {
    schema: BadRequestSchema,
    value: create(BadRequestSchema, {
      fieldViolations: violations.map((v) =>
        create(BadRequest_FieldViolationSchema, { field: v.field, description: v.description, reason: v.reason ?? "" }),
      ),
    }),
  };
}

/** google.rpc.ErrorInfo: why, in a stable UPPER_SNAKE reason within a domain. */
export function errorInfo(
  reason: string,
  domain: string,
  metadata: Readonly<Record<string, string>> = {},
): ErrorDetail<typeof ErrorInfoSchema> {
  return { schema: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain, metadata: { ...metadata } }) };
}

/** google.rpc.ResourceInfo: which resource the error is about. */
export function resourceInfo(resourceType: string, resourceName: string, description = ""): ErrorDetail<typeof ResourceInfoSchema> {
  return {
    schema: ResourceInfoSchema,
    value: create(ResourceInfoSchema, { resourceType, resourceName, description }),
  };
}

/** google.rpc.RetryInfo: when the client may retry. */
export function retryInfo(retryDelayMs: number): ErrorDetail<typeof RetryInfoSchema> {
  const seconds = Math.floor(retryDelayMs / 1000);
  const nanos = Math.round((retryDelayMs - seconds * 1000) * 1e6);
  return {
    schema: RetryInfoSchema,
    value: create(RetryInfoSchema, { retryDelay: create(DurationSchema, { seconds: BigInt(seconds), nanos }) }),
  };
}

/** google.rpc.PreconditionFailure: which precondition failed. */
export function preconditionFailure(
  violations: readonly { readonly type: string; readonly subject: string; readonly description: string }[],
): ErrorDetail<typeof PreconditionFailureSchema> {
  return {
    schema: PreconditionFailureSchema,
    value: create(PreconditionFailureSchema, {
      violations: violations.map((v) => create(PreconditionFailure_ViolationSchema, v)),
    }),
  };
}

/** google.rpc.RequestInfo: the request id a user can quote when reporting the error. */
export function requestInfo(requestId: string, servingData = ""): ErrorDetail<typeof RequestInfoSchema> {
  return { schema: RequestInfoSchema, value: create(RequestInfoSchema, { requestId, servingData }) };
}

/** How many violations the INVALID_ARGUMENT message spells out; the BadRequest detail has the rest. */
const VIOLATIONS_IN_MESSAGE = 10;

/**
 * INVALID_ARGUMENT naming the bad fields in the message and every one of them
 * in a google.rpc.BadRequest, e.g. `invalid CreateUserRequest: email: must be a
 * valid email address`. The message names the first ten and counts the rest
 * (`omitted` adds violations a bounded validator only counted), so its size
 * does not grow with the request.
 */
export function invalidArgument(what: string, violations: readonly FieldViolationInit[], omitted = 0): RpcError {
  const named = violations.slice(0, VIOLATIONS_IN_MESSAGE).map((v) => `${v.field}: ${v.description}`);
  const more = violations.length - named.length + omitted;
  const summary = more > 0 ? `${named.join("; ")}; and ${more} more` : named.join("; ");
  return new RpcError(Code.INVALID_ARGUMENT, `invalid ${what}: ${summary}`, { details: [badRequest(violations)] });
}
