import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";
import { createEchoHandlers } from "../testing/echo-service.js";

const require = createRequire(import.meta.url);

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number };
}

/** One request on grpc.reflection.v1, the way grpcurl asks. */
function ask(address: string, request: Record<string, string>): Promise<ReflectionResponse> {
  const root = join(require.resolve("@grpc/reflection/package.json"), "..", "build", "proto");
  const definition = loadSync("grpc/reflection/v1/reflection.proto", { includeDirs: [root], keepCase: false });
  const Reflection = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  const client = new Reflection.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure()) as unknown as {
    serverReflectionInfo(): grpc.ClientDuplexStream<Record<string, string>, ReflectionResponse>;
    close(): void;
  };
  return new Promise((resolve, reject) => {
    const call = client.serverReflectionInfo();
    call.on("data", (response: ReflectionResponse) => {
      resolve(response);
      call.end();
      client.close();
    });
    call.on("error", reject);
    call.write(request);
  });
}

describe("server reflection", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()));
  });
  after(() => t.close());

  it("lists the application, health and reflection services", async () => {
    const response = await ask(t.address, { listServices: "" });
    const names = response.listServicesResponse?.service.map((s) => s.name).sort();
    assert.deepEqual(names, [
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "trellis.kittest.v1.EchoService",
    ]);
  });

  it("returns a service's file with its dependency list intact, and serves each import by name", async () => {
    const response = await ask(t.address, { fileContainingSymbol: "trellis.kittest.v1.EchoService" });
    const files = (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
    const echo = files.find((f) => f.name === "trellis/kittest/v1/echo.proto");
    assert.deepEqual(echo?.dependency, ["trellis/validate/v1/validate.proto"]);
    for (const dependency of echo?.dependency ?? []) {
      const imported = await ask(t.address, { fileByFilename: dependency });
      const served = (imported.fileDescriptorResponse?.fileDescriptorProto ?? []).map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
      assert.ok(served.includes(dependency), `${dependency} is served`);
    }
  });

  it("serves the google.rpc detail types so clients can decode error details", async () => {
    const response = await ask(t.address, { fileContainingSymbol: "google.rpc.BadRequest" });
    assert.equal(response.fileDescriptorResponse?.fileDescriptorProto.length !== undefined, true);
    const names = (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
    assert.ok(names.includes("google/rpc/error_details.proto"));
  });
});
