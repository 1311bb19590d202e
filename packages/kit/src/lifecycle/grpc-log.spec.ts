import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { EchoRequestSchema, EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { createLogger } from "../observability/logger.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { grpcFrame, rawGrpcCall } from "../testing/raw-grpc.js";
import { startTestServer } from "../testing/start-test-server.js";
import { routeGrpcLogs } from "./grpc-log.js";

describe("routeGrpcLogs", () => {
  it("puts grpc-js' own lines (one per header it cannot carry, attacker-chosen text) into the JSON log at debug, not on stderr", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: "debug",
      destination: new Writable({
        write: (chunk: Buffer, _e, done) => (
          lines.push(
            ...chunk
              .toString()
              .trim()
              .split("\n")
              .map((l) => JSON.parse(l) as Record<string, unknown>),
          ),
          done()
        ),
      }),
    });
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true)) as typeof process.stderr.write;
    routeGrpcLogs(logger);
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()));
    try {
      const outcome = await rawGrpcCall(t.address, "/trellis.kittest.v1.EchoService/Echo", {
        body: [grpcFrame(toBinary(EchoRequestSchema, create(EchoRequestSchema, { text: "hi" })))],
        headers: { "x-a": "\u00e9" },
      });
      assert.equal(outcome.grpcStatus, 0);
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(
        lines.some((l) => l["log.logger"] === "grpc-js" && l["log.level"] === "debug" && /x-a/.test(String(l["message"]))),
        JSON.stringify(lines),
      );
      assert.ok(!stderr.some((s) => /Failed to add metadata/.test(s)), stderr.join(""));
    } finally {
      process.stderr.write = write;
      grpc.setLogger(console);
      await t.close();
    }
  });
});
