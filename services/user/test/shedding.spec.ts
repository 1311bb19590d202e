/**
 * Load shedding in a real user process (TRELLIS_SHED=on): flooded with more calls than it
 * carries, it sheds some with UNAVAILABLE and RetryInfo before doing any work on them, keeps
 * answering health checks and its admin port, counts and logs what it shed, and admits the
 * very next calls once the flood is over.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Code, closeClient, createClient, RpcError, type Client } from "@trellis/kit";
import { RetryInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import { grpcFrame, rawGrpcCall, rpcFailure, startServiceProcess, type ServiceProcess } from "@trellis/kit/testing";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { USER_MAIN } from "./user-main.js";

const FLOOD = 3000;

async function metric(process: ServiceProcess, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${process.adminPort}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(series))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

describe("load shedding in a real user process", () => {
  let user: ServiceProcess;
  let client: Client<typeof UserService>;

  before(async () => {
    // Overload at half the event loop's time, so a test machine's flood surely counts as one.
    user = await startServiceProcess(USER_MAIN, {
      env: { TRELLIS_SHED: "on", TRELLIS_SHED_ELU: "50", TRELLIS_METRICS: "on", LOG_SUCCESS_SAMPLE: "0" },
    });
    // No retries: a shed call must be seen as the server answered it.
    client = createClient(UserService, user.address, { resilience: false });
    // A few calls one at a time: the process is warm, and one call in flight is never shed.
    for (let i = 0; i < 5; i++) assert.equal((await rpcFailure(client.getUser({ id: randomUUID() }))).code, Code.NOT_FOUND);
  });

  after(async () => {
    if (client !== undefined) closeClient(client);
    await user?.stop();
  });

  it("sheds part of a flood with UNAVAILABLE + RetryInfo, never health checks, and admits again at once", async (t) => {
    const floodStart = Date.now();
    const flood = Array.from({ length: FLOOD }, () =>
      client.getUser({ id: randomUUID() }, { timeoutMs: 60_000 }).then(
        () => Code.OK as Code,
        (error: unknown) => {
          assert.ok(error instanceof RpcError, String(error));
          if (error.code === Code.UNAVAILABLE) {
            assert.equal(error.message, "the server is overloaded; retry later, preferably on another instance");
            assert.equal(error.findDetail(RetryInfoSchema)?.retryDelay?.seconds, 1n, "RetryInfo: TRELLIS_SHED_RETRY_MS, 1 s by default");
          }
          return error.code;
        },
      ),
    );
    // While the flood is being served: health checks (their own connections) and the admin port answer.
    const health = await Promise.all(
      Array.from({ length: 5 }, () => rawGrpcCall(user.address, "/grpc.health.v1.Health/Check", { body: [grpcFrame(Buffer.alloc(0))] })),
    );
    const healthz = await user.healthz(60_000);
    const codes = await Promise.all(flood);
    const shed = codes.filter((c) => c === Code.UNAVAILABLE).length;
    const admitted = codes.filter((c) => c === Code.NOT_FOUND).length;
    t.diagnostic(`flood of ${FLOOD}: ${admitted} admitted, ${shed} shed, settled in ${Date.now() - floodStart} ms`);
    assert.equal(shed + admitted, FLOOD, `only NOT_FOUND (admitted) and UNAVAILABLE (shed): ${[...new Set(codes)].join(",")}`);
    assert.ok(shed > 0, "the flood was shed in part");
    assert.ok(admitted > 0, "and served in part");
    assert.deepEqual(
      health.map((h) => h.grpcStatus),
      health.map(() => 0),
      "health checks are never shed",
    );
    assert.equal(healthz, 200);
    // The flood is over: the very next calls are admitted (one call in flight is never shed, and the next reading resets the drop ratio).
    for (let i = 0; i < 20; i++) assert.equal((await rpcFailure(client.getUser({ id: randomUUID() }))).code, Code.NOT_FOUND);
    assert.equal(await metric(user, "trellis_shed_total{"), shed, "every shed call counted once");
    assert.ok(
      user.logs.some((l) => l["event.action"] === "load-shed"),
      "shedding is logged (a summary line, at most one a second)",
    );
  });
});
