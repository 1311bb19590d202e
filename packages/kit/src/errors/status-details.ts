import { create, fromBinary, toBinary, createRegistry, type Registry } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
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

/** A registry of the standard google.rpc detail types, for decoding. */
export function createErrorDetailRegistry(...extra: Parameters<typeof createRegistry>): Registry {
  return createRegistry(file_google_rpc_error_details, ...extra);
}

/**
 * Decodes `grpc-status-details-bin` from trailers into an RpcError. Details of
 * unknown types are skipped; a malformed trailer yields an error without details.
 */
export function decodeStatusDetails(
  code: Code,
  message: string,
  trailers: Metadata | undefined,
  registry: Registry,
): RpcError {
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
