import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code as ConnectCode, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ChangeType, UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { BadRequestSchema, ResourceInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import { HANGING_ID, MISSING_ID, startEdgeUnderTest, until, type EdgeUnderTest } from "./edge-harness.js";

// Connect-ES' browser transports (fetch; HTTP/1.1 in Node) against the edge: what the web app uses.
describe("Connect-ES clients through the edge", () => {
  let edge: EdgeUnderTest;
  before(async () => {
    edge = await startEdgeUnderTest();
  });
  after(() => edge.close());

  const transports: [string, () => Transport][] = [
    ["gRPC-Web", () => createGrpcWebTransport({ baseUrl: edge.url })],
    ["gRPC-Web JSON", () => createGrpcWebTransport({ baseUrl: edge.url, useBinaryFormat: false })],
    ["Connect JSON", () => createConnectTransport({ baseUrl: edge.url })],
    ["Connect binary", () => createConnectTransport({ baseUrl: edge.url, useBinaryFormat: true })],
    ["Connect GET", () => createConnectTransport({ baseUrl: edge.url, useHttpGet: true })],
  ];

  for (const [name, transport] of transports) {
    describe(name, () => {
      it("unary: the backend's answer, with proto3 JSON round-tripped where JSON is used", async () => {
        const client = createClient(UserService, transport());
        const { user } = await client.getUser({ id: "55555555-5555-4555-8555-555555555555" });
        assert.equal(user?.id, "55555555-5555-4555-8555-555555555555");
        assert.equal(user?.displayName, "Ada");
        assert.ok(user?.createTime !== undefined && user.createTime.seconds > 0n);
        const list = await client.listUsers({ pageSize: 3, query: "Grace" });
        assert.deepEqual(
          list.users.map((u) => u.displayName),
          ["Grace", "Grace", "Grace"],
        );
      });

      it("errors keep their code, message and google.rpc details", async () => {
        const client = createClient(UserService, transport());
        const notFound = await client.getUser({ id: MISSING_ID }).then(
          () => assert.fail("expected NOT_FOUND"),
          (e: unknown) => ConnectError.from(e),
        );
        assert.equal(notFound.code, ConnectCode.NotFound);
        assert.equal(notFound.rawMessage, `user ${MISSING_ID} not found`);
        assert.equal(notFound.findDetails(ResourceInfoSchema)[0]?.resourceName, MISSING_ID);
        if (name === "Connect GET") return; // CreateUser has side effects: never a GET
        const invalid = await client.createUser({ email: "not-an-email", displayName: "" }).then(
          () => assert.fail("expected INVALID_ARGUMENT"),
          (e: unknown) => ConnectError.from(e),
        );
        assert.equal(invalid.code, ConnectCode.InvalidArgument);
        assert.deepEqual(
          invalid.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field),
          ["email", "display_name"],
        );
      });

      it("server streaming: messages as they come, then the backend call is cancelled when the client stops", async () => {
        const client = createClient(UserService, transport());
        const cancelled = edge.probe.cancelledStreams;
        const controller = new AbortController();
        const types: ChangeType[] = [];
        for await (const event of client.watchUsers({ includeSnapshot: true }, { signal: controller.signal })) {
          types.push(event.type);
          if (event.type === ChangeType.SNAPSHOT_END) break;
        }
        assert.deepEqual(types, [ChangeType.EXISTING, ChangeType.EXISTING, ChangeType.EXISTING, ChangeType.SNAPSHOT_END]);
        // Leaving the loop cancels the fetch: the edge must cancel its backend call.
        await until(() => edge.probe.cancelledStreams === cancelled + 1, 10_000, "the backend stream to be cancelled");
      });

      it("a stream that fails after a message reports the status and its trailers", async () => {
        const client = createClient(UserService, transport());
        const seen: ChangeType[] = [];
        const error = await (async () => {
          for await (const event of client.watchUsers({ resumeToken: "fail" })) seen.push(event.type);
        })().then(
          () => assert.fail("expected FAILED_PRECONDITION"),
          (e: unknown) => ConnectError.from(e),
        );
        assert.deepEqual(seen, [ChangeType.CREATED]);
        assert.equal(error.code, ConnectCode.FailedPrecondition);
        assert.equal(error.rawMessage, "the feed broke");
        assert.equal(error.metadata.get("x-feed"), "gone");
      });

      it("a deadline: DEADLINE_EXCEEDED, and the backend call does not outlive it", async () => {
        const client = createClient(UserService, transport());
        const before = edge.probe.cancelledUnary;
        const error = await client.getUser({ id: HANGING_ID }, { timeoutMs: 300 }).then(
          () => assert.fail("expected DEADLINE_EXCEEDED"),
          (e: unknown) => ConnectError.from(e),
        );
        assert.equal(error.code, ConnectCode.DeadlineExceeded);
        await until(() => edge.probe.cancelledUnary === before + 1, 10_000, "the hanging backend call to end");
      });

      it("cancellation of a unary call by the client cancels the backend call", async () => {
        const client = createClient(UserService, transport());
        const before = edge.probe.cancelledUnary;
        const controller = new AbortController();
        const pending = client.getUser({ id: HANGING_ID }, { signal: controller.signal });
        await until(() => edge.backend.server.inFlight > 0, 10_000, "the call to reach the backend");
        controller.abort();
        const error = await pending.then(
          () => assert.fail("expected CANCELED"),
          (e: unknown) => ConnectError.from(e),
        );
        assert.equal(error.code, ConnectCode.Canceled);
        await until(() => edge.probe.cancelledUnary === before + 1, 10_000, "the backend call to be cancelled");
      });
    });
  }

  it("forwards custom headers and the browser's traceparent to the backend", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const client = createClient(UserService, createGrpcWebTransport({ baseUrl: edge.url }));
    await client.getUser(
      { id: "66666666-6666-4666-8666-666666666666" },
      { headers: { traceparent, "x-tenant": "acme", cookie: "session=secret" } },
    );
    assert.equal(edge.probe.lastHeaders?.get("traceparent"), traceparent);
    assert.equal(edge.probe.lastHeaders?.get("x-tenant"), "acme");
    assert.equal(edge.probe.lastHeaders?.get("cookie"), null, "the browser's cookies stay at the edge");
  });
});
