import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { descriptorProtoBase64 } from "../gen/google/protobuf/descriptor_bytes.js";

const DESCRIPTOR_PROTO = "google/protobuf/descriptor.proto";

/**
 * A file's serialized FileDescriptorProto as the compiler produced it for code
 * generators (no source info, no source-retention options): what grpc-go's
 * reflection serves for the same .proto, byte for byte.
 *
 * protoc-gen-es embeds each file with its `dependency` list, source info and
 * the `json_name`s that equal the default left out; protobuf-es' `fileDesc()`
 * puts the dependencies (from the imports, in order) and the default
 * `json_name`s back, so serializing `file.proto` again (fields in number order,
 * custom options kept as the unknown fields they arrived as) gives the
 * compiler's bytes — reflection.spec checks this against `buf build` for every
 * file the kit serves. The exception is descriptor.proto, which protobuf-es
 * boots from a reduced object (no options, no reserved ranges); its original
 * bytes are generated from `buf build` (scripts/generate-descriptor-proto.mjs).
 */
export function fileDescriptorBytes(file: DescFile): Uint8Array {
  if (file.proto.name === DESCRIPTOR_PROTO) return base64Decode(descriptorProtoBase64);
  return toBinary(FileDescriptorProtoSchema, file.proto);
}
