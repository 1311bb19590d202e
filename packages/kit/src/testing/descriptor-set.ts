import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/** The repository root (where buf.yaml lists the proto modules), from src/testing or dist/testing. */
export const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/** Options of {@link buildDescriptorSet}. */
export interface BuildDescriptorSetOptions {
  /** Only these files or directories and what they import (buf's `--path`). @default the whole workspace */
  readonly paths?: readonly string[];
}

/**
 * Compiles the repository's protos with `buf build` (the repository's pinned
 * buf, no Go needed) into a FileDescriptorSet holding each file as protoc hands
 * it to a code generator: without source info and source-retention options,
 * imports included. These are the bytes server reflection must serve.
 */
export async function buildDescriptorSet(options: BuildDescriptorSetOptions = {}): Promise<Buffer> {
  const args = ["build", "--as-file-descriptor-set", "--exclude-source-info", "--exclude-source-retention-options"];
  for (const path of options.paths ?? []) args.push("--path", path);
  const { stdout } = await promisify(execFile)(join(repositoryRoot, "node_modules", ".bin", "buf"), [...args, "-o", "-"], {
    cwd: repositoryRoot,
    encoding: "buffer",
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** Each file of a FileDescriptorSet, by name, as the set's bytes hold it (not decoded and encoded again). */
export function descriptorSetFiles(set: Uint8Array): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = set[offset++];
      if (byte === undefined) throw new Error("truncated FileDescriptorSet");
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (offset < set.length) {
    // FileDescriptorSet has one field: repeated FileDescriptorProto file = 1 (tag 0x0a).
    if (varint() !== 0x0a) throw new Error("not a FileDescriptorSet");
    const length = varint();
    const bytes = Buffer.from(set.subarray(offset, offset + length));
    offset += length;
    files.set(fromBinary(FileDescriptorProtoSchema, bytes).name, bytes);
  }
  return files;
}
