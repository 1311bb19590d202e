import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { startServiceProcess, type ServiceProcess } from "@trellis/kit/testing";
import { SendRequestSchema } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { startOtlpSink, type OtlpSink, type SinkSpan } from "./otlp-sink.js";
import { until } from "./edge-harness.js";

const main = (service: string): string => fileURLToPath(new URL(`../../../${service}/dist/main.js`, import.meta.url));

function post(
  port: number,
  path: string,
  body: Uint8Array | string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method: "POST", path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.byteLength);
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

// The browser's trace context (W3C traceparent, sampled) on a gRPC-Web call through the real
// edge, chat and user processes, each exporting its spans over OTLP to a sink in this test.
describe("trace context from the browser: edge → chat → user", { timeout: 120_000 }, () => {
  let sink: OtlpSink;
  let user: ServiceProcess;
  let chat: ServiceProcess;
  let edge: ServiceProcess;
  let edgePort: number;

  before(async () => {
    sink = await startOtlpSink();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: "parentbased_always_on", OTEL_BSP_SCHEDULE_DELAY: "100" };
    user = await startServiceProcess(main("user"), { env: { ...otel, OTEL_SERVICE_NAME: "user" }, startTimeoutMs: 60_000 });
    chat = await startServiceProcess(main("chat"), {
      env: { ...otel, OTEL_SERVICE_NAME: "chat", USER_SERVICE_TARGET: user.address },
      startTimeoutMs: 60_000,
    });
    edge = await startServiceProcess(main("edge"), {
      env: {
        ...otel,
        OTEL_SERVICE_NAME: "edge",
        EDGE_PORT: "0",
        USER_SERVICE_TARGET: user.address,
        CHAT_SERVICE_TARGET: chat.address,
        EDGE_WEB_DIR: "/nonexistent-trellis-web",
      },
      startTimeoutMs: 60_000,
    });
    const listening = edge.logs.find((l) => typeof l["http.port"] === "number");
    assert.ok(listening !== undefined, "the edge's listening line names its HTTP port");
    edgePort = listening["http.port"] as number;
  });

  after(async () => {
    await edge?.stop();
    await chat?.stop();
    await user?.stop();
    await sink?.close();
  });

  it("the edge's call to chat, chat's call to user and both servers' spans carry the browser's trace id, each the child of the one before", async () => {
    const created = await post(edgePort, "/v1/users", JSON.stringify({ email: "traced@example.com", displayName: "Traced" }), {
      "content-type": "application/json",
    });
    assert.equal(created.status, 200, created.body.toString());
    const senderId = (JSON.parse(created.body.toString()) as { user: { id: string } }).user.id;

    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const browserSpan = "00f067aa0ba902b7";
    const reply = await post(
      edgePort,
      "/trellis.chat.v1.ChatService/Send",
      frame(toBinary(SendRequestSchema, create(SendRequestSchema, { room: "traced", senderId, text: "hello" }))),
      {
        "content-type": "application/grpc-web+proto",
        "x-grpc-web": "1",
        traceparent: `00-${traceId}-${browserSpan}-01`,
      },
    );
    assert.equal(reply.status, 200);
    assert.equal(reply.headers["grpc-status"], undefined, `Send failed: ${String(reply.headers["grpc-message"])}`);
    assert.match(reply.body.toString("latin1"), /grpc-status:0/);

    const find = (service: string, kind: number, name: string): SinkSpan | undefined =>
      sink.spans.find((s) => s.traceId === traceId && s.service === service && s.kind === kind && s.name === name);
    const SERVER = 2;
    const CLIENT = 3;
    // Each process exports on its own schedule: wait for all four.
    await until(
      () =>
        find("edge", CLIENT, "trellis.chat.v1.ChatService/Send") !== undefined &&
        find("chat", SERVER, "trellis.chat.v1.ChatService/Send") !== undefined &&
        find("chat", CLIENT, "trellis.user.v1.UserService/GetUser") !== undefined &&
        find("user", SERVER, "trellis.user.v1.UserService/GetUser") !== undefined,
      30_000,
      `the four spans of the call to reach the sink (so far: ${sink.spans.length})`,
    );
    const edgeClient = find("edge", CLIENT, "trellis.chat.v1.ChatService/Send")!;
    const chatServer = find("chat", SERVER, "trellis.chat.v1.ChatService/Send");
    const chatClient = find("chat", CLIENT, "trellis.user.v1.UserService/GetUser");
    const userServer = find("user", SERVER, "trellis.user.v1.UserService/GetUser")!;
    assert.ok(
      chatServer !== undefined && chatClient !== undefined,
      `spans of trace ${traceId}: ${JSON.stringify(sink.spans.filter((s) => s.traceId === traceId))}`,
    );
    // The edge continues the browser's span; each hop is the child of the one before.
    assert.equal(edgeClient.parentSpanId, browserSpan);
    assert.equal(
      chatServer.parentSpanId,
      edgeClient.spanId,
      "chat's server span is the child of the edge's outgoing call: the edge sent the browser's trace id on",
    );
    assert.equal(chatClient.parentSpanId, chatServer.spanId);
    assert.equal(userServer.parentSpanId, chatClient.spanId);
  });
});
