import { createRequire } from "node:module";
import { join } from "node:path";
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type { Server } from "@grpc/grpc-js";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../gen/google/rpc/status_pb.js";
import { file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb.js";

const require = createRequire(import.meta.url);

/**
 * Adds grpc.reflection v1 and v1alpha (so grpcurl, Postman and Insomnia work
 * without .proto files). The descriptors are the ones protobuf-es embeds in the
 * generated code — the services' files and everything they import — passed to
 * @grpc/reflection as raw FileDescriptorProtos. (Round-tripping them through
 * proto-loader's descriptor-set loader drops each file's `dependency` list,
 * and grpcurl then cannot resolve imported types.) The health, reflection and
 * google.rpc protos are added so that `grpcurl list` shows every service the
 * server has and error details can be decoded.
 */
export function addReflection(server: Server, services: readonly DescService[]): void {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (files.has(file.name)) return;
    for (const dependency of file.dependencies) visit(dependency);
    files.set(file.name, file);
  };
  for (const service of services) visit(service.file);
  // So that grpcurl and Postman can decode the google.rpc details in error trailers.
  visit(file_google_rpc_status);
  visit(file_google_rpc_error_details);
  visit(file_grpc_health_v1_health);

  const packageDefinition: PackageDefinition = { ...builtInServices() };
  for (const file of files.values()) {
    // A carrier entry: @grpc/reflection reads only its fileDescriptorProtos.
    packageDefinition[`file:${file.proto.name}`] = {
      format: "Protocol Buffer 3 DescriptorProto",
      type: {},
      fileDescriptorProtos: [Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto))],
    } as unknown as PackageDefinition[string];
  }
  new ReflectionService(packageDefinition).addToServer(server);
}

/** The package definitions of grpc.reflection v1 and v1alpha. */
function builtInServices(): PackageDefinition {
  const reflectionRoot = join(require.resolve("@grpc/reflection/package.json"), "..", "build", "proto");
  return loadSync(
    ["grpc/reflection/v1/reflection.proto", "grpc/reflection/v1alpha/reflection.proto"],
    { includeDirs: [reflectionRoot] },
  );
}
