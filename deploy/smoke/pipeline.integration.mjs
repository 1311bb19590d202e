// The observability pipeline end to end, with no Trellis code: real Prometheus, Jaeger,
// Elasticsearch and OpenTelemetry Collector, started by .ci/lib.sh's ci_start_observability
// (which exports the TEST_* variables read here).
//
//   traces:  two spans (parent, child) as OTLP/HTTP JSON to the collector -> read back from
//            Jaeger's query API with their parent link
//   logs:    ECS JSON lines (dotted and nested field names) appended to the tailed file, and one
//            in a Kubernetes CRI container log -> found in Elasticsearch by trace.id (a keyword),
//            their fields as written
//   metrics: a tiny /metrics endpoint (OpenMetrics, an exemplar carrying a trace id on a
//            histogram bucket) registered through file_sd -> scraped by Prometheus, the series
//            and the exemplar queried back through its HTTP API
//
//   node --test deploy/smoke/pipeline.integration.mjs
/* global fetch, AbortSignal */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: start the stack with ci_start_observability (.ci/lib.sh)`);
  return value;
}

const hex = (bytes) => randomBytes(bytes).toString("hex");

// Polls fn until it returns a value other than undefined; bounded by timeoutMs.
async function eventually(what, fn, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${last.message})` : ""}`);
    }
    await sleep(250);
  }
}

async function getJson(url, init) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
  const body = await res.text();
  return { status: res.status, json: body ? JSON.parse(body) : undefined };
}

test("a trace sent to the collector over OTLP is read back from Jaeger with its parent link", async () => {
  const traceId = hex(16);
  const parentId = hex(8);
  const childId = hex(8);
  const now = BigInt(Date.now()) * 1_000_000n;
  const span = (spanId, name, kind, parentSpanId, startNs, endNs) => ({
    traceId,
    spanId,
    ...(parentSpanId ? { parentSpanId } : {}),
    name,
    kind,
    startTimeUnixNano: String(startNs),
    endTimeUnixNano: String(endNs),
    attributes: [{ key: "rpc.system", value: { stringValue: "grpc" } }],
  });
  const payload = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "pipeline-smoke" } }] },
        scopeSpans: [
          {
            scope: { name: "pipeline-smoke" },
            spans: [
              span(parentId, "trellis.chat.v1.ChatService/Send", 2, undefined, now - 5_000_000n, now),
              span(childId, "trellis.user.v1.UserService/GetUser", 3, parentId, now - 4_000_000n, now - 1_000_000n),
            ],
          },
        ],
      },
    ],
  };
  const sent = await getJson(`${env("TEST_COLLECTOR_OTLP_HTTP_URL")}/v1/traces`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
  assert.equal(sent.status, 200, `collector refused the spans: ${JSON.stringify(sent.json)}`);

  const spans = await eventually("the trace in Jaeger", async () => {
    const { status, json } = await getJson(`${env("TEST_JAEGER_QUERY_URL")}/api/v3/traces/${traceId}`);
    if (status !== 200) return undefined;
    const found = json.result.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
    return found.length === 2 ? found : undefined;
  });
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  assert.equal(byId.get(childId).parentSpanId, parentId);
  assert.equal(byId.get(childId).name, "trellis.user.v1.UserService/GetUser");
  assert.ok(!byId.get(parentId).parentSpanId, "the root span has no parent");
  assert.ok(spans.every((s) => s.traceId === traceId));
});

test("ECS log lines written to tailed files are found in Elasticsearch by trace.id, fields as written", async () => {
  const traceId = hex(16);
  const at = new Date().toISOString();
  const dotted = {
    "@timestamp": at,
    "log.level": "info",
    message: "pipeline smoke: dotted ECS fields",
    "ecs.version": "8.10.0",
    "service.name": "user",
    "trace.id": traceId,
    "span.id": hex(8),
    "event.duration": 1234567,
  };
  const nested = {
    "@timestamp": at,
    log: { level: "error" },
    message: "pipeline smoke: nested ECS fields",
    service: { name: "chat" },
    trace: { id: traceId },
    span: { id: hex(8) },
  };
  appendFileSync(env("TEST_COLLECTOR_LOG_FILE"), `${JSON.stringify(dotted)}\n${JSON.stringify(nested)}\n`);

  // A Kubernetes pod's container log (CRI format), as the kubelet writes it.
  const podDir = join(env("TEST_COLLECTOR_CONTAINER_LOG_DIR"), `trellis_user-smoke_${randomUUID()}`, "user");
  mkdirSync(podDir, { recursive: true });
  const fromPod = { "@timestamp": at, "log.level": "warn", message: "pipeline smoke: from a pod", "trace.id": traceId };
  writeFileSync(join(podDir, "0.log"), `${at} stdout F ${JSON.stringify(fromPod)}\n`);

  const es = env("TEST_ELASTICSEARCH_URL");
  const hits = await eventually("three documents in trellis-logs-*", async () => {
    const { status, json } = await getJson(`${es}/trellis-logs-*/_search?allow_no_indices=true`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: { term: { "trace.id": traceId } }, size: 10 }),
    });
    if (status !== 200 || json.hits.hits.length < 3) return undefined;
    return json.hits.hits;
  });
  assert.equal(hits.length, 3);
  assert.ok(
    hits.every((h) => /^trellis-logs-\d{4}\.\d{2}\.\d{2}$/.test(h._index)),
    hits.map((h) => h._index).join(),
  );

  const source = (message) => hits.find((h) => h._source.message === message)?._source;
  const d = source(dotted.message);
  assert.ok(d, "the dotted line is indexed");
  for (const [k, v] of Object.entries(dotted)) assert.deepEqual(d[k], v, `field ${k} kept as written`);
  assert.equal(d["log.file.path"], env("TEST_COLLECTOR_LOG_FILE"));
  const n = source(nested.message);
  assert.ok(n, "the nested line is indexed");
  for (const [k, v] of Object.entries(nested)) assert.deepEqual(n[k], v, `field ${k} kept as written`);
  const p = source(fromPod.message);
  assert.ok(p, "the container line is indexed");
  assert.equal(p["log.level"], "warn");
  assert.equal(p["kubernetes.namespace"], "trellis");
  assert.equal(p["kubernetes.pod.name"], "user-smoke");
  assert.equal(p["kubernetes.container.name"], "user");

  // trace.id is a keyword (the index template), whichever way the line spelled it.
  const { json: mapping } = await getJson(`${es}/${hits[0]._index}/_mapping/field/trace.id`);
  const fieldMapping = Object.values(mapping)[0].mappings["trace.id"].mapping.id;
  assert.equal(fieldMapping.type, "keyword");
});

test("Prometheus scrapes a target registered through file_sd and answers queries about it, exemplars included", async () => {
  const traceId = hex(16);
  const accepts = [];
  // OpenMetrics when Prometheus asks for it (it does with exemplar storage on): the exemplar
  // carries a trace id, as the kit's latency histogram will.
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    accepts.push(req.headers.accept ?? "");
    res.writeHead(200, { "content-type": "application/openmetrics-text; version=1.0.0; charset=utf-8" });
    res.end(
      "# HELP trellis_smoke_requests Requests seen by the pipeline smoke.\n" +
        "# TYPE trellis_smoke_requests counter\n" +
        'trellis_smoke_requests_total{method="Ping",code="OK"} 7\n' +
        'trellis_smoke_requests_total{method="Ping",code="NOT_FOUND"} 2\n' +
        "# HELP trellis_smoke_seconds Latency seen by the pipeline smoke.\n" +
        "# TYPE trellis_smoke_seconds histogram\n" +
        `trellis_smoke_seconds_bucket{le="0.1"} 1 # {trace_id="${traceId}"} 0.05\n` +
        'trellis_smoke_seconds_bucket{le="+Inf"} 1\n' +
        "trellis_smoke_seconds_sum 0.05\n" +
        "trellis_smoke_seconds_count 1\n" +
        "# EOF\n",
    );
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  const targets = join(env("TEST_PROMETHEUS_TARGETS_DIR"), `smoke-${process.pid}.json`);
  after(() => {
    rmSync(targets, { force: true });
    server.close();
  });
  writeFileSync(targets, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: "smoke", service: "smoke" } }]));

  const prom = env("TEST_PROMETHEUS_URL");
  const api = async (path) => {
    const { status, json } = await getJson(`${prom}/api/v1/${path}`);
    assert.equal(status, 200, JSON.stringify(json));
    return json.data;
  };
  const query = (q) => api(`query?query=${encodeURIComponent(q)}`).then((d) => d.result);
  const result = await eventually("the scraped series in Prometheus", async () => {
    const r = await query(`trellis_smoke_requests_total{job="smoke",instance="127.0.0.1:${port}"}`);
    return r.length === 2 ? r : undefined;
  });
  const byCode = Object.fromEntries(result.map((s) => [s.metric.code, Number(s.value[1])]));
  assert.deepEqual(byCode, { OK: 7, NOT_FOUND: 2 });
  assert.equal(result[0].metric.service, "smoke", "file_sd labels are attached");
  const [up] = await query(`up{job="smoke",instance="127.0.0.1:${port}"}`);
  assert.equal(up.value[1], "1");
  const [sum] = await query('sum(trellis_smoke_requests_total{job="smoke"})');
  assert.equal(sum.value[1], "9");
  assert.ok(accepts[0].includes("application/openmetrics-text"), `Prometheus asked for ${accepts[0]}`);

  const end = Date.now() / 1000;
  const exemplars = await eventually("the exemplar in Prometheus", async () => {
    const data = await api(
      `query_exemplars?query=${encodeURIComponent('trellis_smoke_seconds_bucket{job="smoke"}')}&start=${end - 300}&end=${end + 60}`,
    );
    const found = data.flatMap((series) => series.exemplars);
    return found.length > 0 ? found : undefined;
  });
  assert.equal(exemplars[0].labels.trace_id, traceId);
  assert.equal(Number(exemplars[0].value), 0.05);
});
