import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry, type OpenMetricsContentType } from "prom-client";
import { Code } from "../errors/code.js";
import { createGrpcMetrics } from "./grpc-metrics.js";

const getUser = { grpc_type: "unary", grpc_service: "trellis.user.v1.UserService", grpc_method: "GetUser" } as const;
const labels = 'grpc_type="unary",grpc_service="trellis.user.v1.UserService",grpc_method="GetUser"';

/** The exposition's lines for one family. */
async function lines(registry: Registry, prefix: string): Promise<string[]> {
  return (await registry.metrics()).split("\n").filter((line) => line.startsWith(prefix));
}

describe("createGrpcMetrics", () => {
  it("exposes a method's series at zero for every code once it is used, as go-grpc-prometheus' InitializeMetrics does", async () => {
    const registry = new Registry();
    createGrpcMetrics(registry).server.series(getUser);
    const handled = await lines(registry, "grpc_server_handled_total{");
    assert.equal(handled.length, 17);
    assert.ok(handled.includes(`grpc_server_handled_total{${labels},grpc_code="Unavailable"} 0`));
    assert.deepEqual(await lines(registry, "grpc_server_started_total{"), [`grpc_server_started_total{${labels}} 0`]);
    assert.deepEqual(await lines(registry, "grpc_client_started_total{"), [], "the client side has no series until a call is made");
  });

  it("counts calls, messages and handling times in the exposition, cumulative buckets included", async () => {
    const registry = new Registry();
    const series = createGrpcMetrics(registry).server.series(getUser);
    series.start();
    series.received();
    series.sent();
    series.handled(Code.OK, 0.03);
    series.start();
    series.received();
    series.handled(Code.NOT_FOUND, 0.004);
    series.start();
    series.handled(Code.INTERNAL, 20);
    const text = await registry.metrics();
    for (const line of [
      `grpc_server_started_total{${labels}} 3`,
      `grpc_server_msg_received_total{${labels}} 2`,
      `grpc_server_msg_sent_total{${labels}} 1`,
      `grpc_server_handled_total{${labels},grpc_code="OK"} 1`,
      `grpc_server_handled_total{${labels},grpc_code="NotFound"} 1`,
      `grpc_server_handled_total{${labels},grpc_code="Internal"} 1`,
      `grpc_server_handling_seconds_bucket{${labels},le="0.005"} 1`,
      `grpc_server_handling_seconds_bucket{${labels},le="0.025"} 1`,
      `grpc_server_handling_seconds_bucket{${labels},le="0.05"} 2`,
      `grpc_server_handling_seconds_bucket{${labels},le="10"} 2`,
      `grpc_server_handling_seconds_bucket{${labels},le="+Inf"} 3`,
      `grpc_server_handling_seconds_sum{${labels}} 20.034`,
      `grpc_server_handling_seconds_count{${labels}} 3`,
    ]) {
      assert.ok(text.split("\n").includes(line), `missing: ${line}\n${text}`);
    }
  });

  it("counts a refused call as handled with its code but adds no handling time (it would pass for a fast success in the latency SLO)", async () => {
    const registry = new Registry();
    const series = createGrpcMetrics(registry).server.series(getUser);
    series.start();
    series.refused(Code.RESOURCE_EXHAUSTED);
    const text = (await registry.metrics()).split("\n");
    assert.ok(text.includes(`grpc_server_handled_total{${labels},grpc_code="ResourceExhausted"} 1`));
    assert.ok(text.includes(`grpc_server_handling_seconds_count{${labels}} 0`));
  });

  it("keeps each bucket's latest trace id as its exemplar on an OpenMetrics registry, and none in the Prometheus text format", async () => {
    const open = new Registry<OpenMetricsContentType>();
    open.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const series = createGrpcMetrics(open, { now: () => 1_700_000_000_000 }).server.series(getUser);
    series.handled(Code.OK, 0.03, "4bf92f3577b34da6a3ce929d0e0e4736");
    series.handled(Code.OK, 0.002);
    const text = (await open.metrics()).split("\n");
    assert.ok(
      text.includes(
        `grpc_server_handling_seconds_bucket{${labels},le="0.05"} 2 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.03 1700000000`,
      ),
      text.join("\n"),
    );
    assert.ok(
      text.includes(`grpc_server_handling_seconds_bucket{${labels},le="0.005"} 1`),
      "a bucket nothing traced fell in has no exemplar",
    );
    assert.ok(text.includes(`grpc_server_handled_total{${labels},grpc_code="OK"} 2`), "counters keep their _total name in OpenMetrics");

    const plain = new Registry();
    const untraced = createGrpcMetrics(plain).server.series(getUser);
    untraced.handled(Code.OK, 0.03, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.doesNotMatch(await plain.metrics(), /trace_id/);
  });
});
