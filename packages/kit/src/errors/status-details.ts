import { create, fromBinary, isMessage, toBinary, createRegistry, type Registry } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { BadRequestSchema, file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { RpcError, type Code, type ErrorDetail } from "./rpc-error.js";

/** The trailer that carries a serialized google.rpc.Status (gRPC spec). */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/** Serializes code, message and details as google.rpc.Status. */
export function encodeStatusDetails(code: Code, message: string, details: readonly ErrorDetail[]): Buffer {
  const status = create(StatusSchema, {
    code,
    message,
    details: details.map((d) => anyPack(d.schema, d.value)),
  });
  return Buffer.from(toBinary(StatusSchema, status));
}

/**
 * Bounds of a status on the wire. gRPC C-core (Python, Ruby, PHP…) and Java
 * clients refuse trailers over 8 KiB of metadata by default and report
 * RESOURCE_EXHAUSTED instead of the server's status, so the message and the
 * encoded details stay well inside that: grpc-message is percent-encoded and
 * grpc-status-details-bin base64-encoded (×4/3) on the wire.
 */
export const STATUS_LIMITS = {
  /** Longest grpc-message, in bytes once percent-encoded as grpc-js sends it. */
  messageBytes: 1024,
  /** Largest serialized google.rpc.Status (before base64). */
  detailsBytes: 3072,
} as const;

/** A status fitted into {@link STATUS_LIMITS}. */
export interface BoundedStatus {
  readonly message: string;
  /** The serialized google.rpc.Status for `grpc-status-details-bin`. */
  readonly details: Buffer;
}

/**
 * Fits a status into {@link STATUS_LIMITS}: the message is cut (with an
 * ellipsis) to its byte bound; details that do not fit are shed from the end of
 * the longest list first — BadRequest field violations, then whole details —
 * keeping `keep` (the RequestInfo a user quotes) to the last.
 */
export function boundStatus(
  code: Code,
  message: string,
  details: readonly ErrorDetail[],
  limits: { readonly messageBytes: number; readonly detailsBytes: number } = STATUS_LIMITS,
): BoundedStatus {
  const text = truncateEncoded(wellFormed(message), limits.messageBytes);
  let kept = [...details];
  let encoded = encodeStatusDetails(code, text, kept);
  while (encoded.length > limits.detailsBytes && kept.length > 0) {
    kept = shed(kept);
    encoded = encodeStatusDetails(code, text, kept);
  }
  return { message: text, details: encoded };
}

/** Halves the longest BadRequest's field violations, or drops the first other detail. */
function shed(details: ErrorDetail[]): ErrorDetail[] {
  const index = details.findIndex((d) => isMessage(d.value, BadRequestSchema) && d.value.fieldViolations.length > 1);
  const found = details[index]?.value;
  if (found !== undefined && isMessage(found, BadRequestSchema)) {
    const half = create(BadRequestSchema, { fieldViolations: found.fieldViolations.slice(0, found.fieldViolations.length >> 1) });
    return details.map((d, i) => (i === index ? { schema: BadRequestSchema, value: half } : d));
  }
  // The last detail is the RequestInfo the server appends: drop others first.
  return details.length > 1 ? details.slice(1) : [];
}

/** Cuts `text` so that encodeURI(text) fits in `maxBytes`, marking the cut with "…". */
function truncateEncoded(text: string, maxBytes: number): string {
  if (text.length * 9 <= maxBytes || encodeURI(text).length <= maxBytes) return text;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (encodeURI(safeSlice(text, mid) + "…").length <= maxBytes) low = mid;
    else high = mid - 1;
  }
  return safeSlice(text, low) + "…";
}

/** Replaces lone surrogates, which encodeURI (and so grpc-js) would throw on. */
function wellFormed(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

/** The first `n` UTF-16 units of `text`, without splitting a surrogate pair. */
function safeSlice(text: string, n: number): string {
  const code = text.charCodeAt(n - 1);
  return code >= 0xd800 && code <= 0xdbff ? text.slice(0, n - 1) : text.slice(0, n);
}

/** A registry of the standard google.rpc detail types, for decoding. */
export function createErrorDetailRegistry(...extra: Parameters<typeof createRegistry>): Registry {
  return createRegistry(file_google_rpc_error_details, ...extra);
}

/**
 * Decodes `grpc-status-details-bin` from trailers into an RpcError. Details of
 * unknown types are skipped; a malformed trailer yields an error without details.
 */
export function decodeStatusDetails(code: Code, message: string, trailers: Metadata | undefined, registry: Registry): RpcError {
  const raw = trailers?.get(STATUS_DETAILS_KEY)[0];
  if (!(raw instanceof Buffer)) return new RpcError(code, message);
  let details: ErrorDetail[] = [];
  try {
    const status = fromBinary(StatusSchema, raw);
    details = status.details.flatMap((any) => {
      const schema = registry.getMessage(any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1));
      const value = schema ? anyUnpack(any, schema) : undefined;
      return schema && value ? [{ schema, value }] : [];
    });
  } catch {
    // A peer sent a trailer we cannot parse: keep code and message, drop details.
  }
  return new RpcError(code, message, { details });
}
