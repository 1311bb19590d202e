import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  ParentBasedSampler,
  SamplingDecision,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-node";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { closeClient, createClient } from "../client/create-client.js";
import { Code } from "../errors/code.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";
import { defaultServerInterceptors } from "../interceptors/default-chains.js";
import type { ServiceImpl } from "../server/service-impl.js";
import { createPresampledSampler } from "./presampled-sampler.js";
import { createTracingInterceptor, sampledTraceId } from "./tracing.js";

// The SDK the way runService registers it, exporting to memory (one process per spec file).
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
const tracing = createTracingInterceptor({ tracer: provider.getTracer("test") });

describe("tracing interceptor", () => {
  let backend: TestServer;
  let front: TestServer;
  const seenTraceIds: (string | undefined)[] = [];
  let toBackend: ReturnType<typeof createClient<typeof EchoService>> | undefined;

  before(async () => {
    backend = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()), {
      interceptors: [tracing, ...defaultServerInterceptors()],
    });
    // A front service whose Echo calls the backend for the call it is handling, as chat calls user.
    const client = createClient(EchoService, backend.address, { interceptors: [tracing] });
    toBackend = client;
    const relay: ServiceImpl<typeof EchoService> = {
      ...createEchoHandlers(),
      async echo(request, context) {
        seenTraceIds.push(sampledTraceId(context));
        const reply = await client.echo({ text: request.text, failWith: request.failWith }, { parent: context });
        return { text: `relayed ${reply.text}` };
      },
    };
    front = await startTestServer((s) => s.addService(EchoService, relay), { interceptors: [tracing, ...defaultServerInterceptors()] });
  });
  after(async () => {
    if (toBackend !== undefined) closeClient(toBackend);
    await front.close();
    await backend.close();
  });

  it("makes one trace of a call and the call it makes: server → client → server spans, linked by the traceparent it sends", async () => {
    exporter.reset();
    const reply = await front.client(EchoService).echo({ text: "hi" });
    assert.equal(reply.text, "relayed hi");
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.length, 3, spans.map((s) => s.name).join(", "));
    const frontServer = spans.find((s) => s.kind === SpanKind.SERVER && s.parentSpanContext === undefined);
    const client = spans.find((s) => s.kind === SpanKind.CLIENT);
    const backendServer = spans.find((s) => s.kind === SpanKind.SERVER && s !== frontServer);
    assert.ok(frontServer && client && backendServer);
    assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1, "one trace");
    assert.equal(client.parentSpanContext?.spanId, frontServer.spanContext().spanId);
    assert.equal(backendServer.parentSpanContext?.spanId, client.spanContext().spanId);
    assert.equal(frontServer.name, "trellis.kittest.v1.EchoService/Echo");
    assert.deepEqual(
      {
        system: frontServer.attributes["rpc.system"],
        service: frontServer.attributes["rpc.service"],
        method: frontServer.attributes["rpc.method"],
        code: frontServer.attributes["rpc.grpc.status_code"],
      },
      { system: "grpc", service: "trellis.kittest.v1.EchoService", method: "Echo", code: Code.OK },
    );
    assert.equal(seenTraceIds.at(-1), frontServer.spanContext().traceId, "the handler sees its sampled trace id");
  });

  it("continues a trace the caller started, and marks failures as the conventions say (client: any error; server: its own faults)", async () => {
    exporter.reset();
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const error = await rpcFailure(front.client(EchoService).echo({ text: "x", failWith: "not_found" }, { headers: { traceparent } }));
    assert.equal(error.code, Code.NOT_FOUND);
    const spans = exporter.getFinishedSpans();
    assert.ok(spans.every((s) => s.spanContext().traceId === "4bf92f3577b34da6a3ce929d0e0e4736"));
    const client = spans.find((s) => s.kind === SpanKind.CLIENT);
    const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
    assert.equal(client?.status.code, SpanStatusCode.ERROR, "a client span with a failed call is an error");
    assert.ok(
      servers.every((s) => s.status.code !== SpanStatusCode.ERROR),
      "NOT_FOUND is not a server fault",
    );
    assert.ok(servers.every((s) => s.attributes["rpc.grpc.status_code"] === Code.NOT_FOUND));
  });
});

describe("tracing interceptor deciding roots before any span (sampleRoot)", () => {
  // What the SDK's own root sampler answers, set per test: the interceptor's decision must win either way.
  let sdkRoot = SamplingDecision.NOT_RECORD;
  const rootsExporter = new InMemorySpanExporter();
  const rootsProvider = new NodeTracerProvider({
    sampler: createPresampledSampler(
      new ParentBasedSampler({ root: { shouldSample: () => ({ decision: sdkRoot }), toString: () => "test root" } }),
    ),
    spanProcessors: [new SimpleSpanProcessor(rootsExporter)],
  });
  // Each interceptor's decisions, in order; asking with none queued fails the test.
  const decisions = { front: [] as boolean[], backend: [] as boolean[], asked: { front: 0, backend: 0 } };
  const decide = (side: "front" | "backend") => (): boolean => {
    decisions.asked[side] += 1;
    const next = decisions[side].shift();
    assert.notEqual(next, undefined, `the ${side} was asked for a root decision it should not need`);
    return next!;
  };
  const tracer = rootsProvider.getTracer("roots");
  let backend: TestServer;
  let front: TestServer;
  let toBackend: ReturnType<typeof createClient<typeof EchoService>> | undefined;
  const seen: (string | undefined)[] = [];

  before(async () => {
    const backendTracing = createTracingInterceptor({ tracer, sampleRoot: decide("backend") });
    const frontTracing = createTracingInterceptor({ tracer, sampleRoot: decide("front") });
    backend = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()), {
      interceptors: [backendTracing, ...defaultServerInterceptors()],
    });
    const client = createClient(EchoService, backend.address, { interceptors: [frontTracing] });
    toBackend = client;
    const relay: ServiceImpl<typeof EchoService> = {
      ...createEchoHandlers(),
      async echo(request, context) {
        seen.push(sampledTraceId(context));
        const reply = await client.echo({ text: request.text }, { parent: context });
        return { text: `relayed ${reply.text}` };
      },
    };
    front = await startTestServer((s) => s.addService(EchoService, relay), {
      interceptors: [frontTracing, ...defaultServerInterceptors()],
    });
  });
  after(async () => {
    if (toBackend !== undefined) closeClient(toBackend);
    await front.close();
    await backend.close();
    await rootsProvider.shutdown();
  });

  it("records nothing for a root it did not sample (although the SDK would), and the service it calls starts no trace of its own", async () => {
    rootsExporter.reset();
    sdkRoot = SamplingDecision.RECORD_AND_SAMPLED;
    Object.assign(decisions, { front: [false], backend: [true], asked: { front: 0, backend: 0 } });
    assert.equal((await front.client(EchoService).echo({ text: "quiet" })).text, "relayed quiet");
    assert.deepEqual(rootsExporter.getFinishedSpans(), []);
    assert.equal(seen.at(-1), undefined, "the handler has no sampled trace id");
    assert.deepEqual(decisions.asked, { front: 1, backend: 0 }, "the backend got a not-sampled traceparent, so it did not decide a root");
  });

  it("records the whole trace of a root it sampled, although the SDK's root sampler says no", async () => {
    rootsExporter.reset();
    sdkRoot = SamplingDecision.NOT_RECORD;
    Object.assign(decisions, { front: [true], backend: [], asked: { front: 0, backend: 0 } });
    await front.client(EchoService).echo({ text: "loud" });
    const spans = rootsExporter.getFinishedSpans();
    assert.equal(spans.length, 3, spans.map((s) => s.name).join(", "));
    assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1);
    assert.equal(seen.at(-1), spans[0]!.spanContext().traceId);
    assert.deepEqual(decisions.asked, { front: 1, backend: 0 });
  });

  it("follows the caller's traceparent without deciding anything", async () => {
    rootsExporter.reset();
    Object.assign(decisions, { front: [], backend: [], asked: { front: 0, backend: 0 } });
    const sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    await front.client(EchoService).echo({ text: "a" }, { headers: { traceparent: sampled } });
    assert.equal(rootsExporter.getFinishedSpans().length, 3);
    rootsExporter.reset();
    const notSampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    await front.client(EchoService).echo({ text: "b" }, { headers: { traceparent: notSampled } });
    assert.deepEqual(rootsExporter.getFinishedSpans(), []);
    assert.deepEqual(decisions.asked, { front: 0, backend: 0 });
  });
});
