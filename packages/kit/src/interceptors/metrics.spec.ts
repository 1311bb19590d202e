import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { Registry } from "prom-client";
import { EchoRequestSchema, EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { Code } from "../errors/code.js";
import { createGrpcMetrics } from "../observability/grpc-metrics.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { grpcFrame, rawGrpcCall } from "../testing/raw-grpc.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { startTestServer } from "../testing/start-test-server.js";
import { defaultServerInterceptors } from "./default-chains.js";
import { createMetricsInterceptor } from "./metrics.js";

/** The value of one series (a histogram's as `<name>_count`), by its labels (missing: 0). */
async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const histogramPart = /_(count|sum)$/.exec(name);
  const metric = await registry.getSingleMetric(histogramPart === null ? name : name.slice(0, histogramPart.index))?.get();
  const found = metric?.values.find(
    (v) =>
      Object.entries(labels).every(([k, l]) => v.labels[k] === l) &&
      (histogramPart === null || (v as { metricName?: string }).metricName === name),
  );
  return found?.value ?? 0;
}

const echo = { grpc_type: "unary", grpc_service: "trellis.kittest.v1.EchoService", grpc_method: "Echo" };
const stream = { grpc_type: "server_stream", grpc_service: "trellis.kittest.v1.EchoService", grpc_method: "EchoStream" };

describe("metrics interceptor", () => {
  it("counts every call on both sides with go-grpc-prometheus' names and labels, malformed and unknown calls included", async () => {
    const registry = new Registry();
    const metrics = createGrpcMetrics(registry);
    const counting = createMetricsInterceptor(metrics);
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()), {
      interceptors: [counting, ...defaultServerInterceptors()],
      grpcMetrics: metrics,
    });
    try {
      const client = t.client(EchoService, { interceptors: [counting] });
      for (let i = 0; i < 3; i++) await client.echo({ text: "ok" });
      assert.equal((await rpcFailure(client.echo({ text: "x", failWith: "not_found" }))).code, Code.NOT_FOUND);
      const received: number[] = [];
      for await (const message of client.echoStream({ text: "s", count: 4 })) received.push(message.index);
      // Field 1 as a varint: not an EchoRequest. Then a method nobody serves.
      assert.equal(
        (await rawGrpcCall(t.address, "/trellis.kittest.v1.EchoService/Echo", { body: [grpcFrame(Buffer.from([0x08, 0x01]))] })).grpcStatus,
        Code.INVALID_ARGUMENT,
      );
      const junk = toBinary(EchoRequestSchema, create(EchoRequestSchema, { text: "?" }));
      assert.equal((await rawGrpcCall(t.address, "/evil.Service/Method1", { body: [grpcFrame(junk)] })).grpcStatus, Code.UNIMPLEMENTED);
      assert.equal((await rawGrpcCall(t.address, "/evil.Service/Method2", { body: [grpcFrame(junk)] })).grpcStatus, Code.UNIMPLEMENTED);

      assert.equal(await value(registry, "grpc_server_started_total", echo), 5);
      assert.equal(await value(registry, "grpc_server_handled_total", { ...echo, grpc_code: "OK" }), 3);
      assert.equal(await value(registry, "grpc_server_handled_total", { ...echo, grpc_code: "NotFound" }), 1);
      assert.equal(await value(registry, "grpc_server_handled_total", { ...echo, grpc_code: "InvalidArgument" }), 1);
      assert.equal(await value(registry, "grpc_server_msg_received_total", echo), 5);
      assert.equal(await value(registry, "grpc_server_msg_sent_total", echo), 3);
      assert.equal(await value(registry, "grpc_server_msg_sent_total", stream), 4);
      assert.equal(await value(registry, "grpc_server_handled_total", { ...stream, grpc_code: "OK" }), 1);
      assert.equal(await value(registry, "grpc_server_handling_seconds_count", echo), 5);
      // Every unknown name is one label value: a client cannot grow the series.
      assert.equal(
        await value(registry, "grpc_server_handled_total", { grpc_service: "unknown", grpc_method: "unknown", grpc_code: "Unimplemented" }),
        2,
      );

      assert.equal(await value(registry, "grpc_client_started_total", echo), 4);
      assert.equal(await value(registry, "grpc_client_handled_total", { ...echo, grpc_code: "NotFound" }), 1);
      assert.equal(await value(registry, "grpc_client_msg_sent_total", echo), 4);
      assert.equal(await value(registry, "grpc_client_msg_received_total", stream), 4);
    } finally {
      await t.close();
    }
  });

  it("attaches the call's trace id as an exemplar when the call is traced", async () => {
    const registry = new Registry<"application/openmetrics-text; version=1.0.0; charset=utf-8">();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const metrics = createGrpcMetrics(registry);
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()), {
      interceptors: [createMetricsInterceptor(metrics, { traceIdOf: (context) => (context.side === "server" ? traceId : undefined) })],
    });
    try {
      await t.client(EchoService).echo({ text: "x" });
      assert.match(
        await registry.metrics(),
        new RegExp(`grpc_server_handling_seconds_bucket\\{[^}]*grpc_method="Echo"[^}]*\\} 1 # \\{trace_id="${traceId}"\\}`),
      );
    } finally {
      await t.close();
    }
  });
});
