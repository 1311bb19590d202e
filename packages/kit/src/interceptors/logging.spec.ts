import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { waitFor } from "../testing/service-process.js";
import { startTestServer, type TestServer } from "../testing/start-test-server.js";

/** How long the handler takes: the access line's duration can only be longer (timers never fire early by more than a millisecond). */
const HANDLER_MS = 200;

describe("access log (the default server chain)", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer((s) => s.addService(EchoService, createEchoHandlers()));
  });
  after(() => t.close());

  /** The access line of the call with this request id, once written (a few loop turns after the call). */
  const accessLine = async (requestId: string): Promise<Record<string, unknown>> => {
    const find = () => t.logs.find((l) => l["http.request.id"] === requestId && l["grpc.code"] !== undefined);
    await waitFor(() => find() !== undefined, `the access line of ${requestId} was written`);
    return find()!;
  };

  it("gives a successful call's real duration in event.duration_ms", async () => {
    const { requestId } = await t.client(EchoService).echo({ text: "slow", delayMs: HANDLER_MS });
    const line = await accessLine(requestId);
    assert.equal(line["grpc.code"], "OK");
    assert.equal(line["rpc.method"], "trellis.kittest.v1.EchoService/Echo");
    assert.ok(Number(line["event.duration_ms"]) >= HANDLER_MS - 1, `event.duration_ms was ${String(line["event.duration_ms"])}`);
  });

  it("gives a failed call's real duration and its code", async () => {
    const requestId = `failed-${process.pid}`;
    const error = await rpcFailure(
      t.client(EchoService).echo({ text: "gone", delayMs: HANDLER_MS, failWith: "not_found" }, { headers: { "x-request-id": requestId } }),
    );
    assert.equal(error.message, "thing gone not found");
    const line = await accessLine(requestId);
    assert.equal(line["grpc.code"], "NOT_FOUND");
    assert.ok(Number(line["event.duration_ms"]) >= HANDLER_MS - 1, `event.duration_ms was ${String(line["event.duration_ms"])}`);
  });
});
