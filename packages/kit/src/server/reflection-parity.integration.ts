// Reflection parity with grpc-go (`npm run test:reflection`, CI step "reflection"; needs Go).
//
// The kit's reflection and grpc-go's own (testdata/reflection-peer, built here with
// `go build`) serve the same contracts, user.proto and chat.proto with everything they
// import plus google.rpc, and answer the same requests. The Trellis side serves the
// services' generated code as the services do; the grpc-go side reads a
// FileDescriptorSet from `buf build` and takes gRPC's own reflection and health files
// from grpc-go. Every file answer must be the same bytes (the whole
// ServerReflectionResponse), every error the same code, list_services the same set.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcessByStdio } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { fromBinary, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, RpcError } from "../errors/rpc-error.js";
import { buildDescriptorSet, repositoryRoot } from "../testing/descriptor-set.js";
import {
  createReflectionClient,
  type ReflectionClient,
  type ReflectionReply,
  type ReflectionRequest,
} from "../testing/reflection-client.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";

const PEER_DIR = join(repositoryRoot, "packages/kit/testdata/reflection-peer");
const SERVICES = ["trellis.user.v1.UserService", "trellis.chat.v1.ChatService"];

const FILES = [
  "trellis/user/v1/user.proto",
  "trellis/chat/v1/chat.proto",
  "trellis/validate/v1/validate.proto",
  "google/protobuf/descriptor.proto",
  "google/protobuf/timestamp.proto",
  "google/protobuf/field_mask.proto",
  "google/rpc/status.proto",
  "google/rpc/error_details.proto",
  "grpc/reflection/v1/reflection.proto",
  "grpc/reflection/v1alpha/reflection.proto",
  "grpc/health/v1/health.proto",
  "trellis/nope/v1/nope.proto",
];
const SYMBOLS = [
  "trellis.user.v1.UserService",
  "trellis.user.v1.UserService.CreateUser",
  "trellis.user.v1.CreateUserRequest",
  "trellis.user.v1.User.email",
  "trellis.user.v1.Role",
  "trellis.user.v1.ROLE_ADMIN",
  "trellis.chat.v1.ChatService",
  "trellis.chat.v1.ChatService.History",
  "trellis.chat.v1.ChatRequest.action",
  "trellis.chat.v1.PresenceEvent.Kind",
  "trellis.chat.v1.PresenceEvent.KIND_JOINED",
  "trellis.validate.v1.field",
  "trellis.validate.v1.StringRules",
  "google.protobuf.Timestamp",
  "google.protobuf.FieldOptions",
  "google.rpc.BadRequest",
  "google.rpc.BadRequest.FieldViolation",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "grpc.health.v1.Health",
  "grpc.health.v1.HealthCheckResponse.SERVING",
  "trellis.nope.v1.Nope",
  "trellis.user.v1.UserService.Nope",
  // A leading dot is not part of a fully-qualified name in reflection requests: grpc-go says NOT_FOUND.
  ".trellis.user.v1.UserService",
];
const EXTENDEES = ["google.protobuf.FieldOptions", "google.protobuf.MessageOptions", "trellis.user.v1.User", "trellis.nope.v1.Nope"];

describe("server reflection, byte for byte with grpc-go's", () => {
  const cleanups: (() => Promise<void>)[] = [];
  let trellis: ReflectionClient;
  let grpcGo: ReflectionClient;

  before(async () => {
    const work = await mkdtemp(join(tmpdir(), "trellis-reflection-parity-"));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    const binary = join(work, "reflection-peer");
    await promisify(execFile)("go", ["build", "-mod=readonly", "-buildvcs=false", "-o", binary, "."], { cwd: PEER_DIR });
    const set = join(work, "descriptors.binpb");
    await writeFile(
      set,
      await buildDescriptorSet({
        paths: [
          "packages/api/proto/trellis/user/v1/user.proto",
          "packages/api/proto/trellis/chat/v1/chat.proto",
          "packages/kit/proto/google/rpc",
        ],
      }),
    );
    const peer = await startPeer(binary, ["-descriptors", set, ...SERVICES.flatMap((name) => ["-service", name])]);
    cleanups.push(peer.stop);
    grpcGo = createReflectionClient(peer.address);
    cleanups.push(async () => grpcGo.close());

    const server = await startTrellis();
    cleanups.push(() => server.close());
    trellis = createReflectionClient(server.address);
    cleanups.push(async () => trellis.close());
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it("lists the same services", async () => {
    const request: ReflectionRequest = { messageRequest: { case: "listServices", value: "" } };
    const [ours, theirs] = await Promise.all([trellis.exchange([request]), grpcGo.exchange([request])]);
    assert.deepEqual(serviceNames(ours[0]), serviceNames(theirs[0]));
    assert.deepEqual(
      serviceNames(ours[0]),
      [...SERVICES, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"].sort(),
    );
  });

  it("answers file_by_filename and file_containing_symbol with the same bytes, each on a new stream", async (t) => {
    const requests = [
      ...FILES.map((name): ReflectionRequest => ({ messageRequest: { case: "fileByFilename", value: name } })),
      ...SYMBOLS.map((symbol): ReflectionRequest => ({ messageRequest: { case: "fileContainingSymbol", value: symbol } })),
    ];
    const tally = newTally();
    for (const request of requests) await assertSameAnswers([request], "v1", tally);
    t.diagnostic(describeTally(tally));
  });

  it("answers the extension queries with the same bytes", async (t) => {
    const tally = newTally();
    const numbers = EXTENDEES.map((extendee): ReflectionRequest => ({
      messageRequest: { case: "allExtensionNumbersOfType", value: extendee },
    }));
    await assertSameAnswers(numbers, "v1", tally);
    const extensions: ReflectionRequest[] = [];
    for (const reply of await grpcGo.exchange(numbers)) {
      const response = reply.message.messageResponse;
      if (response.case !== "allExtensionNumbersResponse") continue;
      for (const extensionNumber of [...response.value.extensionNumber, 1]) {
        extensions.push({
          messageRequest: { case: "fileContainingExtension", value: { containingType: response.value.baseTypeName, extensionNumber } },
        });
      }
    }
    assert.ok(extensions.length > 2, "grpc-go knows trellis.validate.v1.field");
    for (const request of extensions) await assertSameAnswers([request], "v1", tally);
    t.diagnostic(describeTally(tally));
  });

  it("answers a whole session on one stream the same way, leaving out files already sent (v1 and v1alpha)", async (t) => {
    const session: ReflectionRequest[] = [
      { host: "localhost", messageRequest: { case: "listServices", value: "" } },
      ...SYMBOLS.map((symbol): ReflectionRequest => ({ messageRequest: { case: "fileContainingSymbol", value: symbol } })),
      ...FILES.map((name): ReflectionRequest => ({ messageRequest: { case: "fileByFilename", value: name } })),
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 51071 },
        },
      },
    ];
    const tally = newTally();
    await assertSameAnswers(session, "v1", tally);
    await assertSameAnswers(session, "v1alpha", tally);
    t.diagnostic(describeTally(tally));
  });

  /** Sends `requests` on one stream to each server and compares the answers one by one. */
  async function assertSameAnswers(
    requests: readonly ReflectionRequest[],
    version: "v1" | "v1alpha" = "v1",
    tally = newTally(),
  ): Promise<void> {
    const [ours, theirs] = await Promise.all([trellis.exchange(requests, { version }), grpcGo.exchange(requests, { version })]);
    assert.equal(ours.length, theirs.length, `number of answers to ${describeRequests(requests)}`);
    ours.forEach((reply, i) => {
      const other = theirs[i] as ReflectionReply;
      const what = `${version} ${describeRequests([requests[i] as ReflectionRequest])}`;
      const response = reply.message.messageResponse;
      switch (response.case) {
        case "listServicesResponse":
          assert.deepEqual(serviceNames(reply), serviceNames(other), what);
          tally.lists += 1;
          return;
        case "errorResponse":
          // The messages are each server's own words; the code is the contract.
          assert.equal(
            other.message.messageResponse.case,
            "errorResponse",
            `${what}: grpc-go found it (Trellis said ${response.value.errorMessage})`,
          );
          assert.equal(response.value.errorCode, (other.message.messageResponse.value as { errorCode: number }).errorCode, what);
          tally.errors += 1;
          return;
        default:
          assert.ok(
            reply.bytes.equals(other.bytes),
            `${what}: Trellis answered\n  ${describeReply(reply)}\ngrpc-go answered\n  ${describeReply(other)}`,
          );
          tally.identical += 1;
      }
    });
  }
});

/** How many answers were compared, by kind. */
interface Tally {
  identical: number;
  errors: number;
  lists: number;
}

const newTally = (): Tally => ({ identical: 0, errors: 0, lists: 0 });

const describeTally = (tally: Tally): string =>
  `${tally.identical} answers byte-identical, ${tally.errors} errors with the same code, ${tally.lists} service lists equal`;

interface Peer {
  readonly address: string;
  stop(): Promise<void>;
}

/** Starts the grpc-go peer and waits for its "listening" line; it exits when its stdin closes. */
async function startPeer(binary: string, args: readonly string[]): Promise<Peer> {
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(binary, args, { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => resolve(`exited with ${signal ?? String(code)}`));
    child.once("error", (error) => resolve(`failed: ${error.message}`));
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    child.kill("SIGTERM");
    await exited;
  };
  const lines = createInterface({ input: child.stdout });
  const listening = new Promise<string>((resolve, reject) => {
    lines.on("line", (line) => {
      if (line.startsWith("listening ")) resolve(line.slice("listening ".length));
    });
    void exited.then((how) => reject(new Error(`reflection peer ${how} before listening`)));
  });
  try {
    return { address: await listening, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A Trellis server with the user and chat services' generated code, every method UNIMPLEMENTED. */
async function startTrellis(): Promise<TestServer> {
  // The kit does not depend on the services; the built contracts are loaded as they are served.
  const load = async (path: string, name: string): Promise<DescService> =>
    ((await import(pathToFileURL(join(repositoryRoot, path)).href)) as Record<string, DescService>)[name] as DescService;
  const services = [
    await load("packages/api/dist/gen/trellis/user/v1/user_pb.js", "UserService"),
    await load("packages/api/dist/gen/trellis/chat/v1/chat_pb.js", "ChatService"),
  ];
  const unimplemented = async (): Promise<never> => {
    throw new RpcError(Code.UNIMPLEMENTED, "reflection parity test");
  };
  return startTestServer((server) => {
    for (const service of services) {
      server.addService(service, Object.fromEntries(service.methods.map((method) => [method.localName, unimplemented])) as never);
    }
  });
}

function serviceNames(reply: ReflectionReply | undefined): string[] {
  const response = reply?.message.messageResponse;
  assert.equal(response?.case, "listServicesResponse");
  return response.value.service.map((service) => service.name).sort();
}

function describeRequests(requests: readonly ReflectionRequest[]): string {
  return requests.map((request) => JSON.stringify(request.messageRequest)).join(", ");
}

function describeReply(reply: ReflectionReply): string {
  const response = reply.message.messageResponse;
  if (response.case !== "fileDescriptorResponse") return `${reply.bytes.length} bytes: ${JSON.stringify(response)}`;
  const files = response.value.fileDescriptorProto.map(
    (bytes) => `${fromBinary(FileDescriptorProtoSchema, bytes).name} (${bytes.length} bytes)`,
  );
  return `${reply.bytes.length} bytes: ${files.join(", ")}`;
}
