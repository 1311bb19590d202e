import { connect } from "node:http2";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { EchoService, EchoStreamRequestSchema } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { Code, RpcError } from "../errors/rpc-error.js";
import { closeClient, createClient, type Client } from "../client/create-client.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { rawGrpcCall, grpcFrame } from "../testing/raw-grpc.js";
import { startTestServer } from "../testing/start-test-server.js";
import { createTestCallContext } from "../testing/test-call-context.js";
import type { ServiceImpl } from "../server/service-impl.js";
import { createContextKey } from "./context-values.js";
import { decodeBinaryHeader, encodeBinaryHeader } from "./headers.js";
import type { Interceptor } from "./interceptor.js";
import { defaultServerInterceptors } from "../interceptors/default-chains.js";

const tenant = createContextKey<string>("none", { description: "tenant" });

/** Echo whose unary method reflects headers and values, to see them cross the wire. */
function headerEcho(): ServiceImpl<typeof EchoService> {
  return {
    ...createEchoHandlers(),
    async echo(request, context) {
      context.responseHeader.set("x-echo-tenant", context.values.get(tenant));
      context.responseHeader.set("x-echo-bin", context.requestHeader.get("x-blob-bin") ?? "");
      context.responseTrailer.set("x-echo-side", context.side);
      if (request.failWith === "not_found") throw new RpcError(Code.NOT_FOUND, "nothing here");
      return { text: `${request.text}:${context.requestHeader.get("x-tenant") ?? ""}`, requestId: context.requestId };
    },
  };
}

/** A server interceptor that reads a header into a typed value, as an auth interceptor would. */
const tenantFromHeader: Interceptor = (next) => (request) => {
  if (request.context.side === "server") request.context.values.set(tenant, request.context.requestHeader.get("x-tenant") ?? "anonymous");
  return next(request);
};

describe("the call model", () => {
  it("carries request headers, typed values, response headers and trailers (binary ones too) across a real call", async () => {
    const t = await startTestServer((s) => s.addService(EchoService, headerEcho()), { interceptors: [tenantFromHeader] });
    try {
      const echo: Client<typeof EchoService> = t.client(EchoService);
      let header: Headers | undefined;
      let trailer: Headers | undefined;
      const blob = new Uint8Array([0, 1, 2, 250, 255]);
      const reply = await echo.echo(
        { text: "hi" },
        {
          headers: { "x-tenant": "acme", "x-blob-bin": encodeBinaryHeader(blob) },
          onHeader: (h) => (header = h),
          onTrailer: (h) => (trailer = h),
        },
      );
      assert.equal(reply.text, "hi:acme");
      assert.equal(header?.get("x-echo-tenant"), "acme");
      assert.deepEqual(decodeBinaryHeader(header?.get("x-echo-bin") ?? ""), blob);
      assert.equal(trailer?.get("x-echo-side"), "server");
    } finally {
      await t.close();
    }
  });

  it("sends the response headers a handler set before failing with the status (trailers-only)", async () => {
    const t = await startTestServer((s) => s.addService(EchoService, headerEcho()), { interceptors: [tenantFromHeader] });
    try {
      let header: Headers | undefined;
      const error = await rpcFailure(t.client(EchoService).echo({ text: "x", failWith: "not_found" }, { onHeader: (h) => (header = h) }));
      assert.equal(error.code, Code.NOT_FOUND);
      assert.equal(header?.get("x-echo-tenant"), "anonymous");
    } finally {
      await t.close();
    }
  });

  it("decodes a request inside the chain: interceptors see a malformed one fail with INVALID_ARGUMENT", async () => {
    const seen: (number | "ok")[] = [];
    const observe: Interceptor = (next) => async (request) => {
      try {
        const response = await next(request);
        seen.push("ok");
        return response;
      } catch (error) {
        seen.push(error instanceof RpcError ? error.code : -1);
        throw error;
      }
    };
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()), {
      interceptors: [observe, ...defaultServerInterceptors()],
    });
    try {
      // Field 1 (text) as a varint: not a valid EchoRequest.
      const outcome = await rawGrpcCall(t.address, "/trellis.kittest.v1.EchoService/Echo", {
        body: [grpcFrame(Buffer.from([0x08, 0x01]))],
      });
      assert.equal(outcome.grpcStatus, Code.INVALID_ARGUMENT);
      assert.deepEqual(seen, [Code.INVALID_ARGUMENT]);
      await waitFor(() =>
        t.logs.some((l) => l["grpc.code"] === "INVALID_ARGUMENT" && l["rpc.method"] === "trellis.kittest.v1.EchoService/Echo"),
      );
    } finally {
      await t.close();
    }
  });

  it("runs the same interceptor on both sides, telling them apart by context.side", async () => {
    const sides: string[] = [];
    const record: Interceptor = (next) => (request) => {
      sides.push(request.context.side);
      return next(request);
    };
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()), { interceptors: [record] });
    try {
      await t.client(EchoService, { interceptors: [record] }).echo({ text: "x" });
      assert.deepEqual(sides, ["client", "server"]);
    } finally {
      await t.close();
    }
  });

  it("gives client calls the resilience chain by default: a unary call gets a deadline", async () => {
    const deadlines: (number | undefined)[] = [];
    const t = await startTestServer((s) =>
      s.addService(EchoService, {
        ...createEchoHandlers(),
        async echo(_request, context) {
          deadlines.push(context.deadline);
          return { text: "" };
        },
      }),
    );
    try {
      await t.client(EchoService).echo({});
      await t.client(EchoService, { resilience: false }).echo({});
      await t.client(EchoService, { resilience: { deadline: false } }).echo({});
      assert.equal(typeof deadlines[0], "number");
      // No client deadline: the server's own 30 s cap is what the handler sees.
      assert.ok((deadlines[1] ?? 0) - Date.now() > 20_000);
      assert.ok((deadlines[2] ?? 0) - Date.now() > 20_000);
      assert.ok((deadlines[0] ?? 0) - Date.now() <= 5_000);
    } finally {
      await t.close();
    }
  });

  it("closes a client with closeClient (an RPC named like a method of the client cannot collide)", async () => {
    const t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()));
    try {
      const echo = createClient(EchoService, t.address);
      await echo.echo({});
      assert.deepEqual(Object.keys(echo).sort(), ["collect", "converse", "echo", "echoStream"]);
      closeClient(echo);
      assert.equal((await rpcFailure(echo.echo({}))).code, Code.CANCELLED);
    } finally {
      await t.close();
    }
  });

  it("lets a stream handler send its response headers before any message (context.sendHeader): the client knows the stream is set up", async () => {
    let release!: () => void;
    let releasedYet = false;
    const released = new Promise<void>((resolve) => (release = resolve)).then(() => void (releasedYet = true));
    // Without early headers the client would wait for the message forever: let it come after a
    // while, so such a failure shows as wrong headers (x-too-late sent) rather than a hang.
    const fallback = setTimeout(() => release(), 5000);
    const quietStream: ServiceImpl<typeof EchoService> = {
      ...createEchoHandlers(),
      async *echoStream(request, context) {
        // The services' case: nothing to say in the headers, only that the stream is set up.
        context.sendHeader?.();
        context.responseHeader.set("x-too-late", "yes");
        await released;
        yield { text: request.text, index: 0 };
      },
    };
    const t = await startTestServer((s) => s.addService(EchoService, quietStream));
    const session = connect(`http://${t.address}`);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/trellis.kittest.v1.EchoService/EchoStream",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.end(grpcFrame(toBinary(EchoStreamRequestSchema, create(EchoStreamRequestSchema, { text: "hi", count: 1 }))));
      let data = 0;
      stream.on("data", (chunk: Buffer) => (data += chunk.length));
      const headers = await new Promise<Record<string, unknown>>((resolve) => stream.once("response", resolve));
      // The handler is still waiting: the headers came on their own, without a message.
      assert.equal(releasedYet, false);
      assert.equal(data, 0);
      assert.equal(headers[":status"], 200);
      assert.equal(headers["content-type"], "application/grpc+proto");
      assert.equal(headers["x-too-late"], undefined);
      release();
      const trailers = await new Promise<Record<string, unknown>>((resolve) => stream.once("trailers", resolve));
      assert.equal(trailers["grpc-status"], "0");
      assert.ok(data > 5, "the message followed");
    } finally {
      clearTimeout(fallback);
      release();
      session.close();
      await t.close();
    }
  });

  it("reports a stream's headers to the client's onHeader when they arrive, before its first message, once", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // Were onHeader called only at the end, the handler would wait for ever: let it go on after
    // a while, so that such a failure shows as the wrong order of events rather than a hang.
    const fallback = setTimeout(() => release(), 5000);
    const quietStream: ServiceImpl<typeof EchoService> = {
      ...createEchoHandlers(),
      async *echoStream(request, context) {
        if (request.text === "fail") throw new RpcError(Code.NOT_FOUND, "nothing here");
        context.responseHeader.set("x-stream", "set-up");
        context.sendHeader?.();
        await released;
        yield { text: request.text, index: 0 };
      },
    };
    const t = await startTestServer((s) => s.addService(EchoService, quietStream));
    try {
      const echo = t.client(EchoService);
      const events: string[] = [];
      const onHeader = (header: Headers): void => {
        events.push(`header ${header.get("x-stream")}`);
        release();
      };
      for await (const reply of echo.echoStream({ text: "hi", count: 1 }, { onHeader, onTrailer: () => events.push("trailer") }))
        events.push(`message ${reply.text}`);
      assert.deepEqual(events, ["header set-up", "message hi", "trailer"]);

      // A trailers-only response (a failure before any header): onHeader once, at the end, then onTrailer.
      events.length = 0;
      const failure = await rpcFailure(
        (async () => {
          for await (const _ of echo.echoStream(
            { text: "fail", count: 1 },
            { onHeader: () => events.push("header"), onTrailer: () => events.push("trailer") },
          ))
            events.push("message");
        })(),
      );
      assert.equal(failure.code, Code.NOT_FOUND);
      assert.deepEqual(events, ["header", "trailer"]);
    } finally {
      clearTimeout(fallback);
      release();
      await t.close();
    }
  });

  it("tests a handler without a server through createTestCallContext", async () => {
    const context = createTestCallContext({ method: EchoService.method.echo, requestHeader: { "x-tenant": "acme" } });
    context.values.set(tenant, "acme");
    const reply = await headerEcho().echo({ $typeName: "trellis.kittest.v1.EchoRequest", text: "hi", delayMs: 0, failWith: "" }, context);
    assert.equal(reply.text, "hi:acme");
    assert.equal(context.responseTrailer.get("x-echo-side"), "server");
    context.abort();
    assert.equal((context.signal.reason as RpcError).code, Code.CANCELLED);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}
