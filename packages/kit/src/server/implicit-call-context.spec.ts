import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { startTestServer } from "../testing/start-test-server.js";
import { currentCallContext } from "../call/call-context-storage.js";
import type { ServiceImpl } from "./service-impl.js";

function echoReportingContext(): ServiceImpl<typeof EchoService> {
  const base = createEchoHandlers();
  return {
    ...base,
    async echo(request) {
      // Report which call, if any, the implicit context says we are handling.
      return { text: request.text, requestId: currentCallContext()?.requestId ?? "none" };
    },
  };
}

describe("implicit call context", () => {
  it("is off by default: handlers see no ambient context (no AsyncLocalStorage cost)", async () => {
    const t = await startTestServer((s) => s.addService(EchoService, echoReportingContext()));
    const reply = await t.client(EchoService).echo({ text: "x" }, { headers: { "x-request-id": "r-1" } });
    assert.equal(reply.requestId, "none");
    await t.close();
  });

  it("with implicitCallContext: true, code running for a call finds its context", async () => {
    const t = await startTestServer((s) => s.addService(EchoService, echoReportingContext()), { implicitCallContext: true });
    const reply = await t.client(EchoService).echo({ text: "x" }, { headers: { "x-request-id": "r-2" } });
    assert.equal(reply.requestId, "r-2");
    await t.close();
  });
});
