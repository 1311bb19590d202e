import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionResponse,
} from "../gen/grpc/reflection/v1/reflection_pb.js";

/** A reflection request, as an init object of grpc.reflection.v1.ServerReflectionRequest. */
export type ReflectionRequest = MessageInitShape<typeof ServerReflectionRequestSchema>;

/** One response as it came off the wire, and decoded. */
export interface ReflectionReply {
  readonly bytes: Buffer;
  /** Decoded with the v1 schema (v1alpha's messages are the same on the wire). */
  readonly message: ServerReflectionResponse;
}

/** Options of {@link ReflectionClient.exchange}. */
export interface ExchangeOptions {
  /** Which service to call. @default "v1" */
  readonly version?: "v1" | "v1alpha";
  /** Deadline of the stream, so a server that stops answering fails the test. @default 20_000 */
  readonly timeoutMs?: number;
}

/** A raw grpc.reflection client for tests: it keeps the response bytes, to compare servers byte for byte. */
export interface ReflectionClient {
  /** Sends `requests` in order on one ServerReflectionInfo stream, then resolves with every response. */
  exchange(requests: readonly ReflectionRequest[], options?: ExchangeOptions): Promise<ReflectionReply[]>;
  close(): void;
}

/**
 * Creates a reflection client for `address` (`host:port`, plaintext). It shares
 * no reflection code with the server: requests are encoded and responses
 * decoded with the generated v1 messages.
 */
export function createReflectionClient(address: string): ReflectionClient {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return {
    exchange(requests, options = {}) {
      const path = `/grpc.reflection.${options.version ?? "v1"}.ServerReflection/ServerReflectionInfo`;
      const call = client.makeBidiStreamRequest(
        path,
        (request: ReflectionRequest) =>
          Buffer.from(toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, request))),
        (bytes: Buffer) => bytes,
        new grpc.Metadata(),
        { deadline: Date.now() + (options.timeoutMs ?? 20_000) },
      );
      const replies: ReflectionReply[] = [];
      return new Promise((resolve, reject) => {
        call.on("data", (bytes: Buffer) => replies.push({ bytes, message: fromBinary(ServerReflectionResponseSchema, bytes) }));
        call.on("error", reject);
        call.on("end", () => resolve(replies));
        for (const request of requests) call.write(request);
        call.end();
      });
    },
    close: () => client.close(),
  };
}

/** The files of a file_descriptor_response, decoded; throws on any other answer. */
export function servedFiles(reply: ReflectionReply): FileDescriptorProto[] {
  const response = reply.message.messageResponse;
  if (response.case !== "fileDescriptorResponse") {
    throw new Error(`expected a file_descriptor_response, got ${response.case ?? "nothing"}: ${JSON.stringify(response.value ?? null)}`);
  }
  return response.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}
