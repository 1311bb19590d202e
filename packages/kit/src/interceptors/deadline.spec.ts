import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, type DescMethod } from "@bufbuild/protobuf";
import { Code, RpcError } from "../errors/rpc-error.js";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import type { CallRequest, CallResponse } from "../call/interceptor.js";
import type { CallContext } from "../call/call-context.js";
import { callContextStorage } from "../call/call-context-storage.js";
import { ClientCall } from "../client/client-call.js";
import { createLogger } from "../observability/logger.js";
import { createClientDeadlineInterceptor, type ClientDeadlineInterceptorOptions } from "./deadline.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { createTestCallContext } from "../testing/test-call-context.js";

/** What a test call starts with (the caller's options). */
interface CallInit {
  readonly deadline?: number;
  readonly signal?: AbortSignal;
  readonly headers?: Record<string, string>;
  readonly parent?: CallContext;
}

const NOW = 1_700_000_000_000;
const now = (): number => NOW;

function request(init: CallInit = {}, method: DescMethod = EchoService.method.echo): CallRequest {
  const context = new ClientCall({
    method,
    target: "dns:///echo",
    logger: createLogger({ level: "silent" }),
    ...(init.deadline === undefined ? {} : { deadline: init.deadline }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
    ...(init.headers === undefined ? {} : { headers: init.headers }),
    ...(init.parent === undefined ? {} : { parent: init.parent }),
  });
  return { stream: false, method, context, message: create(EchoRequestSchema, { text: "hi" }) };
}

/** Runs one call through the interceptor and returns the call as the transport would have seen it. */
async function sent(options: ClientDeadlineInterceptorOptions, req: CallRequest): Promise<CallContext> {
  let seen: CallContext | undefined;
  const handler = createClientDeadlineInterceptor({ now, ...options })(async (r): Promise<CallResponse> => {
    seen = r.context;
    return { stream: false, message: create(EchoResponseSchema) };
  });
  await handler(req);
  assert.ok(seen, "the call was not sent");
  return seen;
}

function serverCall(init: { deadline?: number; signal?: AbortSignal; requestId?: string } = {}): CallContext {
  return createTestCallContext({
    method: EchoService.method.echo,
    requestId: init.requestId ?? "req-parent",
    ...(init.deadline === undefined ? {} : { deadline: init.deadline }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
}

describe("client deadline interceptor", () => {
  it("gives a call without a deadline the default timeout", async () => {
    assert.equal((await sent({}, request())).deadline, NOW + 5000);
    assert.equal((await sent({ defaultTimeoutMs: 200 }, request())).deadline, NOW + 200);
    assert.equal((await sent({ defaultTimeoutMs: 0 }, request())).deadline, undefined);
  });

  it("keeps the caller's own deadline, shorter or longer than the default (the caller is the most specific)", async () => {
    assert.equal((await sent({}, request({ deadline: NOW + 100 }))).deadline, NOW + 100);
    assert.equal((await sent({}, request({ deadline: NOW + 60_000 }))).deadline, NOW + 60_000);
    assert.equal((await sent({ methodTimeoutsMs: { echo: 300 } }, request({ deadline: NOW + 60_000 }))).deadline, NOW + 60_000);
  });

  it("looks per-method timeouts up by localName, Service/Method and package.Service/Method", async () => {
    assert.equal((await sent({ methodTimeoutsMs: { echo: 300 } }, request())).deadline, NOW + 300);
    assert.equal((await sent({ methodTimeoutsMs: { "EchoService/Echo": 400 } }, request())).deadline, NOW + 400);
    const both = { "trellis.kittest.v1.EchoService/Echo": 500, echo: 300 };
    assert.equal((await sent({ methodTimeoutsMs: both }, request())).deadline, NOW + 500, "the most specific key wins");
    assert.equal((await sent({ methodTimeoutsMs: { echo: 0 } }, request())).deadline, undefined, "0 means none");
  });

  it("gives response streams no default timeout, but honours a per-method one", async () => {
    const stream = EchoService.method.echoStream;
    assert.equal((await sent({}, request({}, stream))).deadline, undefined);
    assert.equal((await sent({ methodTimeoutsMs: { echoStream: 900 } }, request({}, stream))).deadline, NOW + 900);
  });

  it("takes the caller's deadline (else the method's timeout), capped by the server call's deadline", async () => {
    const cases: [caller: number | undefined, parent: number | undefined, expected: number][] = [
      [NOW + 100, NOW + 200, NOW + 100],
      [NOW + 300, NOW + 200, NOW + 200],
      [undefined, NOW + 1000, NOW + 1000],
      [undefined, NOW + 9000, NOW + 5000],
      [NOW + 9000, undefined, NOW + 9000],
      [NOW + 9000, NOW + 7000, NOW + 7000],
    ];
    for (const [caller, parent, expected] of cases) {
      const options = await callContextStorage.run(serverCall({ deadline: parent }), () =>
        sent({}, request(caller === undefined ? {} : { deadline: caller })),
      );
      assert.equal(options.deadline, expected, `caller ${caller}, parent ${parent}`);
    }
  });

  it("cancels the call when the server call it is made for is cancelled", async () => {
    const parent = new AbortController();
    const options = await callContextStorage.run(serverCall({ signal: parent.signal }), () => sent({}, request()));
    assert.ok(options.signal);
    assert.equal(options.signal.aborted, false);
    const reason = new RpcError(Code.CANCELLED, "client cancelled");
    parent.abort(reason);
    assert.equal(options.signal.aborted, true);
    assert.equal(options.signal.reason, reason);
  });

  it("still cancels on the caller's own signal inside a server call", async () => {
    const caller = new AbortController();
    const options = await callContextStorage.run(serverCall(), () => sent({}, request({ signal: caller.signal })));
    assert.ok(options.signal);
    caller.abort();
    assert.equal(options.signal.aborted, true);
  });

  it("passes the caller's signal through unchanged outside a server call", async () => {
    const caller = new AbortController();
    assert.equal((await sent({}, request({ signal: caller.signal }))).signal, caller.signal);
  });

  it("fails fast with DEADLINE_EXCEEDED, without sending, when the inherited budget is spent", async () => {
    let calls = 0;
    const handler = createClientDeadlineInterceptor({ now })(async () => {
      calls++;
      return { stream: false, message: create(EchoResponseSchema) };
    });
    const error = await rpcFailure(callContextStorage.run(serverCall({ deadline: NOW - 1 }), () => handler(request())));
    assert.equal(error.code, Code.DEADLINE_EXCEEDED);
    assert.match(error.message, /call being handled/);
    const own = await rpcFailure(handler(request({ deadline: NOW })));
    assert.equal(own.code, Code.DEADLINE_EXCEEDED);
    assert.equal(calls, 0);
  });

  it("fails fast with the parent's reason when the server call is already cancelled", async () => {
    const parent = new AbortController();
    const reason = new RpcError(Code.DEADLINE_EXCEEDED, "deadline exceeded");
    parent.abort(reason);
    const handler = createClientDeadlineInterceptor({ now })(() => assert.fail("must not send"));
    const error = await rpcFailure(callContextStorage.run(serverCall({ signal: parent.signal }), () => handler(request())));
    assert.equal(error, reason);
  });

  it("passes the server call's request id on, unless the caller set one", async () => {
    const inherited = await callContextStorage.run(serverCall({ requestId: "req-42" }), () => sent({}, request()));
    assert.equal(inherited.requestHeader.get("x-request-id"), "req-42");
    const own = await callContextStorage.run(serverCall({ requestId: "req-42" }), () =>
      sent({}, request({ headers: { "X-Request-Id": "mine", tenant: "a" } })),
    );
    assert.deepEqual(
      [...own.requestHeader],
      [
        ["tenant", "a"],
        ["x-request-id", "mine"],
      ],
    );
    assert.deepEqual(
      [...(await sent({}, request({ headers: { tenant: "a" } }))).requestHeader],
      [["tenant", "a"]],
      "no server call, no id",
    );
  });
});
