import {
  createRegistry,
  fromBinary,
  fromJson,
  toBinary,
  toJson,
  type DescMessage,
  type JsonValue,
  type Registry,
} from "@bufbuild/protobuf";
import { anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import type { DescService } from "@bufbuild/protobuf";
import { StatusSchema } from "@trellis/kit/gen/google/rpc/status_pb.js";
import { file_google_rpc_error_details } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import type { Code } from "@trellis/kit/errors";

/**
 * The proto3 JSON mapping as protobuf-es does it (lowerCamelCase names,
 * enum names, RFC 3339 Timestamps, FieldMask strings, `@type` in Any), for
 * the routed services' messages and google.rpc's error details.
 */
export interface JsonCodec {
  readonly registry: Registry;
  /** JSON text → the message's binary encoding; throws JsonCodecError with a one-line reason. */
  encode(schema: DescMessage, json: JsonValue): Uint8Array;
  /** Binary encoding → JSON value (unknown fields left out: JSON has no place for them). */
  decode(schema: DescMessage, bytes: Uint8Array): JsonValue;
  /** A serialized google.rpc.Status as JSON, details rendered with `@type` (types it does not know are kept as base64 Any). */
  status(code: Code, message: string, details: Uint8Array | undefined): JsonValue;
  /** The details of a serialized google.rpc.Status, each as its type name, bytes and JSON (when known). */
  details(details: Uint8Array | undefined): { readonly type: string; readonly value: Uint8Array; readonly json: JsonValue | undefined }[];
}

/** A request the codec could not turn into a message. */
export class JsonCodecError extends Error {
  override readonly name = "JsonCodecError";
}

/** A codec for the messages of `services` (and everything they reference). */
export function createJsonCodec(services: readonly DescService[]): JsonCodec {
  const registry = createRegistry(file_google_rpc_error_details, ...services.map((s) => s.file));
  const decodeDetails = (bytes: Uint8Array | undefined): Any[] => {
    if (bytes === undefined) return [];
    try {
      return fromBinary(StatusSchema, bytes).details;
    } catch {
      return [];
    }
  };
  const anyJson = (any: Any): JsonValue => {
    const name = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
    const schema = registry.getMessage(name);
    const value = schema === undefined ? undefined : anyUnpack(any, schema);
    if (schema === undefined || value === undefined) return { "@type": any.typeUrl, value: Buffer.from(any.value).toString("base64") };
    return { "@type": any.typeUrl, ...(toJson(schema, value, { registry }) as Record<string, JsonValue>) };
  };
  return {
    registry,
    encode(schema, json) {
      try {
        return toBinary(schema, fromJson(schema, json, { registry }));
      } catch (error) {
        throw new JsonCodecError((error as Error).message);
      }
    },
    decode: (schema, bytes) => toJson(schema, fromBinary(schema, bytes), { registry }),
    status(code, message, details) {
      const anys = decodeDetails(details);
      return { code, message, ...(anys.length === 0 ? {} : { details: anys.map(anyJson) }) };
    },
    details(details) {
      return decodeDetails(details).map((any) => {
        const type = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
        const schema = registry.getMessage(type);
        const value = schema === undefined ? undefined : anyUnpack(any, schema);
        return {
          type,
          value: any.value,
          json: schema === undefined || value === undefined ? undefined : toJson(schema, value, { registry }),
        };
      });
    },
  };
}

/** A message's JSON text as a value; JsonCodecError naming the parser's reason when it is not JSON. */
export function parseJson(bytes: Uint8Array): JsonValue {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")) as JsonValue;
  } catch (error) {
    throw new JsonCodecError(`the body is not JSON: ${(error as Error).message}`);
  }
}
