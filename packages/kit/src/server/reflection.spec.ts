import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, createFileRegistry, fromBinary, getExtension, hasExtension } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { field as validateRules } from "../gen/trellis/validate/v1/validate_pb.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { buildDescriptorSet, descriptorSetFiles } from "../testing/descriptor-set.js";
import { createReflectionClient, servedFiles, type ReflectionClient, type ReflectionReply } from "../testing/reflection-client.js";

const ECHO_PROTO = "trellis/kittest/v1/echo.proto";
const VALIDATE_PROTO = "trellis/validate/v1/validate.proto";
const DESCRIPTOR_PROTO = "google/protobuf/descriptor.proto";
/** trellis.validate.v1.field, in validate.proto. */
const VALIDATE_FIELD_NUMBER = 51071;

const names = (reply: ReflectionReply): string[] => servedFiles(reply).map((file) => file.name);

describe("server reflection", () => {
  let t: TestServer;
  let reflection: ReflectionClient;
  before(async () => {
    t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()));
    reflection = createReflectionClient(t.address);
  });
  after(async () => {
    reflection.close();
    await t.close();
  });

  it("lists the application, health and reflection services, on v1 and v1alpha", async () => {
    for (const version of ["v1", "v1alpha"] as const) {
      const [reply] = await reflection.exchange([{ messageRequest: { case: "listServices", value: "" } }], { version });
      const response = reply?.message.messageResponse;
      assert.equal(response?.case, "listServicesResponse", version);
      assert.deepEqual(
        response.value.service.map((s) => s.name),
        [
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
          "trellis.kittest.v1.EchoService",
        ],
        version,
      );
    }
  });

  it("serves every file byte for byte as buf compiles it (the bytes grpc-go serves), imports included", async () => {
    const compiled = descriptorSetFiles(
      await buildDescriptorSet({
        paths: [
          "packages/kit/proto/google",
          "packages/kit/proto/grpc",
          "packages/kit/proto/trellis",
          "packages/kit/testdata/proto/trellis",
        ],
      }),
    );
    const replies = await reflection.exchange(
      [
        "trellis.kittest.v1.EchoService",
        "google.rpc.BadRequest",
        "google.rpc.Status",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ].map((symbol) => ({ messageRequest: { case: "fileContainingSymbol", value: symbol } })),
    );
    const served = new Map<string, Uint8Array>();
    for (const reply of replies) {
      const response = reply.message.messageResponse;
      assert.equal(response.case, "fileDescriptorResponse");
      for (const bytes of response.value.fileDescriptorProto) served.set(fromBinary(FileDescriptorProtoSchema, bytes).name, bytes);
    }
    assert.deepEqual([...served.keys()].sort(), [
      "google/protobuf/any.proto",
      DESCRIPTOR_PROTO,
      "google/protobuf/duration.proto",
      "google/rpc/error_details.proto",
      "google/rpc/status.proto",
      "grpc/health/v1/health.proto",
      "grpc/reflection/v1/reflection.proto",
      "grpc/reflection/v1alpha/reflection.proto",
      ECHO_PROTO,
      VALIDATE_PROTO,
    ]);
    for (const [name, bytes] of served) {
      // A difference in a google/protobuf file other than descriptor.proto means buf and
      // @bufbuild/protobuf bundle different protobuf releases: upgrade the older one.
      assert.ok(Buffer.from(bytes).equals(compiled.get(name) ?? Buffer.alloc(0)), `${name}: served bytes differ from buf build's`);
    }
  });

  it("keeps custom options: the trellis.validate.v1 rules are in the served descriptors", async () => {
    const [reply] = await reflection.exchange([{ messageRequest: { case: "fileByFilename", value: ECHO_PROTO } }]);
    assert.ok(reply);
    // Decode the way a client does: from the served files alone, the rules' extension found
    // through them (reversed: a file comes before its imports, the registry wants them after).
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: servedFiles(reply).reverse() }));
    const echoRequest = registry.getMessage("trellis.kittest.v1.EchoRequest");
    const extension = registry.getExtension("trellis.validate.v1.field");
    const options = echoRequest?.field.text?.proto.options;
    assert.ok(extension && options && hasExtension(options, extension), "EchoRequest.text has (trellis.validate.v1.field)");
    const rules = getExtension(options, validateRules);
    assert.equal(rules.type.case, "string");
    assert.equal(rules.type.value.maxLen, 50);
  });

  it("describes itself with gRPC's canonical reflection.proto, so clients can call it", async () => {
    const [reply] = await reflection.exchange([
      { messageRequest: { case: "fileContainingSymbol", value: "grpc.reflection.v1.ServerReflection" } },
    ]);
    assert.ok(reply);
    const [file] = servedFiles(reply);
    assert.equal(file?.name, "grpc/reflection/v1/reflection.proto");
    assert.equal(file.package, "grpc.reflection.v1");
    const request = file.messageType.find((message) => message.name === "ServerReflectionRequest");
    assert.deepEqual(
      request?.field.map((f) => f.name),
      ["host", "file_by_filename", "file_containing_symbol", "file_containing_extension", "all_extension_numbers_of_type", "list_services"],
    );
    assert.equal(file.service[0]?.method[0]?.inputType, ".grpc.reflection.v1.ServerReflectionRequest");
  });

  it("answers extension queries by the spec's name, without a leading dot", async () => {
    const [numbers, file] = await reflection.exchange([
      { messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.FieldOptions" } },
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.FieldOptions", extensionNumber: VALIDATE_FIELD_NUMBER },
        },
      },
    ]);
    assert.deepEqual(numbers?.message.messageResponse.value, {
      $typeName: "grpc.reflection.v1.ExtensionNumberResponse",
      baseTypeName: "google.protobuf.FieldOptions",
      extensionNumber: [VALIDATE_FIELD_NUMBER],
    });
    assert.ok(file);
    assert.deepEqual(names(file), [VALIDATE_PROTO, DESCRIPTOR_PROTO]);
  });

  it("sends a file with its imports, and on the same stream each import only once (as grpc-go does)", async () => {
    const [first, second, third] = await reflection.exchange([
      { messageRequest: { case: "fileContainingSymbol", value: "trellis.kittest.v1.EchoService" } },
      { messageRequest: { case: "fileByFilename", value: VALIDATE_PROTO } },
      { messageRequest: { case: "fileContainingSymbol", value: "trellis.kittest.v1.EchoService" } },
    ]);
    assert.ok(first && second && third);
    assert.deepEqual(names(first), [ECHO_PROTO, VALIDATE_PROTO, DESCRIPTOR_PROTO]);
    // The file asked for is always sent; its imports were sent already.
    assert.deepEqual(names(second), [VALIDATE_PROTO]);
    assert.deepEqual(names(third), [ECHO_PROTO]);
    const [fresh] = await reflection.exchange([{ messageRequest: { case: "fileByFilename", value: VALIDATE_PROTO } }]);
    assert.ok(fresh);
    assert.deepEqual(names(fresh), [VALIDATE_PROTO, DESCRIPTOR_PROTO], "a new stream starts afresh");
  });

  it("finds methods, fields, nested types and enum values by their full names", async () => {
    const symbols = {
      "trellis.kittest.v1.EchoService.Echo": ECHO_PROTO,
      "trellis.kittest.v1.EchoRequest.text": ECHO_PROTO,
      "google.rpc.BadRequest.FieldViolation": "google/rpc/error_details.proto",
      // protobuf scopes enum values beside their enum, not inside it.
      "grpc.health.v1.HealthCheckResponse.SERVING": "grpc/health/v1/health.proto",
      "trellis.validate.v1.field": VALIDATE_PROTO,
    };
    const replies = await Promise.all(
      Object.keys(symbols).map((symbol) => reflection.exchange([{ messageRequest: { case: "fileContainingSymbol", value: symbol } }])),
    );
    assert.deepEqual(
      Object.fromEntries(Object.keys(symbols).map((symbol, i) => [symbol, names(replies[i]?.[0] as ReflectionReply)[0]])),
      symbols,
    );
  });

  it("answers unknown names with NOT_FOUND and keeps the stream open", async () => {
    const replies = await reflection.exchange([
      { messageRequest: { case: "fileContainingSymbol", value: "trellis.nope.v1.Nope" } },
      { messageRequest: { case: "fileContainingSymbol", value: "trellis.kittest.v1.EchoService.Nope" } },
      { messageRequest: { case: "fileByFilename", value: "trellis/nope/v1/nope.proto" } },
      {
        messageRequest: { case: "fileContainingExtension", value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 1 } },
      },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "trellis.nope.v1.Nope" } },
      { messageRequest: { case: "fileByFilename", value: ECHO_PROTO } },
    ]);
    const codes = replies.map((reply) => {
      const response = reply.message.messageResponse;
      return response.case === "errorResponse" ? response.value.errorCode : response.case;
    });
    assert.deepEqual(codes, [5, 5, 5, 5, 5, "fileDescriptorResponse"]);
  });

  it("answers v1alpha with the same bytes as v1", async () => {
    const request = {
      host: "localhost",
      messageRequest: { case: "fileContainingSymbol", value: "trellis.kittest.v1.EchoService" },
    } as const;
    const [v1] = await reflection.exchange([request]);
    const [v1alpha] = await reflection.exchange([request], { version: "v1alpha" });
    assert.ok(v1 && v1alpha);
    assert.equal(v1.message.validHost, "localhost");
    assert.ok(v1alpha.bytes.equals(v1.bytes));
  });
});
