import { create, type DescService } from "@bufbuild/protobuf";
import { Code, RpcError } from "../errors/rpc-error.js";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../gen/google/rpc/status_pb.js";
import { file_grpc_health_v1_health, Health } from "../gen/grpc/health/v1/health_pb.js";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createReflectionIndex, type ReflectionIndex, type ServedFile } from "./reflection-index.js";
import type { ServiceImpl } from "./service-impl.js";

/** Registers a service on the server being built, as `Server.addService` does. */
export type AddService = <S extends DescService>(service: S, impl: ServiceImpl<S>) => void;

/**
 * Adds grpc.reflection v1 and v1alpha (so grpcurl, buf curl, Postman and
 * Insomnia work without .proto files), registered through `add` like any
 * service, so reflection calls run through the server's interceptor chain and
 * shutdown like the others. It serves the services' files and everything they
 * import, plus google.rpc's (so clients can decode error details), health and
 * reflection's own canonical files.
 *
 * Our own implementation, not @grpc/reflection (which the kit used until it
 * was measured against grpc-go): that library decodes every file with
 * protobufjs and encodes it again, which drops custom options (every
 * `trellis.validate.v1` rule), describes itself from a mangled copy of its
 * proto (`grpc_reflection_v1.proto`, camelCase fields, relative type names, so
 * grpcurl cannot call it), and finds extensions only under a leading-dot name.
 * Those are its core, not a patchable edge, and the protocol is small. Each
 * file is served as the compiler's bytes (see fileDescriptorBytes) with
 * grpc-go's semantics: a file comes with its imports, breadth first, and
 * imports already sent on the same stream are not sent again; unknown names
 * get NOT_FOUND. The reflection-parity integration test compares every answer
 * byte for byte with grpc-go's reflection serving the same descriptors.
 */
export function addReflection(add: AddService, services: readonly DescService[]): void {
  const index = createReflectionIndex(
    [
      ...services.map((service) => service.file),
      file_google_rpc_status,
      file_google_rpc_error_details,
      file_grpc_health_v1_health,
      v1.file_grpc_reflection_v1_reflection,
      v1alpha.file_grpc_reflection_v1alpha_reflection,
    ],
    [...services.map((service) => service.typeName), Health.typeName, v1.ServerReflection.typeName, v1alpha.ServerReflection.typeName],
  );
  // v1alpha is v1 under another package name: same fields, same numbers, same answers.
  add(v1.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>();
      for await (const request of requests) {
        yield create(v1.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answer(index, request, sent),
        });
      }
    },
  });
  add(v1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>();
      for await (const request of requests) {
        yield create(v1alpha.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answer(index, request, sent),
        });
      }
    },
  });
}

type ReflectionRequest = Pick<v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest, "messageRequest">;

type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** One request's answer; `sent` holds the files already sent on this stream. */
function answer(index: ReflectionIndex, request: ReflectionRequest, sent: Set<string>): ReflectionAnswer {
  const files = (file: ServedFile | undefined, what: string): ReflectionAnswer =>
    file
      ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file, sent) } }
      : { case: "errorResponse", value: { errorCode: Code.NOT_FOUND, errorMessage: `${what} not found` } };
  const query = request.messageRequest;
  switch (query.case) {
    case "fileByFilename":
      return files(index.file(query.value), `file ${JSON.stringify(query.value)}`);
    case "fileContainingSymbol":
      return files(index.fileContainingSymbol(query.value), `symbol ${JSON.stringify(query.value)}`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = query.value;
      return files(
        index.fileContainingExtension(containingType, extensionNumber),
        `extension ${extensionNumber} of ${JSON.stringify(containingType)}`,
      );
    }
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbers(query.value);
      if (!numbers)
        return {
          case: "errorResponse",
          value: { errorCode: Code.NOT_FOUND, errorMessage: `type ${JSON.stringify(query.value)} not found` },
        };
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: query.value, extensionNumber: [...numbers] } };
    }
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
    default:
      throw new RpcError(Code.INVALID_ARGUMENT, "ServerReflectionRequest sets none of its message_request fields");
  }
}

/**
 * `file` and its imports, breadth first, leaving out imports sent earlier on
 * the stream (the requested file itself is always sent), as grpc-go does.
 * Clients such as grpcurl keep what a stream sent them; a file that was sent
 * had all its imports sent with it, so their imports need no second look.
 */
function withDependencies(file: ServedFile, sent: Set<string>): Uint8Array[] {
  const out: Uint8Array[] = [];
  const queue = [file];
  for (let next = queue.shift(); next; next = queue.shift()) {
    if (out.length > 0 && sent.has(next.name)) continue;
    sent.add(next.name);
    out.push(next.bytes);
    queue.push(...next.dependencies);
  }
  return out;
}
