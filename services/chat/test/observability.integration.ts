// The observability pipeline end to end, against the real components CI starts
// (.ci/lib-observability.sh: Prometheus, Jaeger v2, Elasticsearch, the
// OpenTelemetry Collector): a user and a chat process serve a known set of calls;
// Prometheus' counters and histograms must match those calls exactly, every
// dashboard and rule expression must run on them, a chat → user call must be one
// trace in Jaeger, and the services' log lines must be found in Elasticsearch by
// that trace's id. `npm run test:observability` (CI step "observability").
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { copyFile, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Code, closeClient, createClient } from "@trellis/kit";
import { grpcFrame, rawGrpcCall, rpcFailure, startServiceProcess, waitFor, type ServiceProcess } from "@trellis/kit/testing";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { ChangeType, UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { CHAT_MAIN, USER_MAIN } from "./service-mains.js";

const REPO = fileURLToPath(new URL("../../../../", import.meta.url));

/** A variable the CI step sets; a clear failure when the suite runs without it. */
function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set: this suite needs the stack .ci/lib-observability.sh starts (CI_ONLY=observability bash .ci/run)`);
  }
  return value;
}

// The CI machine runs this beside the whole stack (Elasticsearch, Jaeger, the collector): starting is slow there.
const START_TIMEOUT_MS = 120_000;

/** Loosely typed JSON from the stack's HTTP APIs (Prometheus, Jaeger, Elasticsearch): the test reads known paths. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- third-party response bodies, read by known paths
type Json = any;

const hex = (bytes: number): string => randomBytes(bytes).toString("hex");

async function getJson(url: string, init?: RequestInit): Promise<{ readonly status: number; readonly json: Json }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = { text };
  }
  return { status: response.status, json };
}

/** An instant query; the error Prometheus gives for a bad expression, as a string. */
async function query(
  promql: string,
): Promise<{ readonly error?: string; readonly result: { metric: Record<string, string>; value: [number, string] }[] }> {
  const { status, json } = await getJson(`${env("TEST_PROMETHEUS_URL")}/api/v1/query?query=${encodeURIComponent(promql)}`);
  if (status !== 200 || json.status !== "success")
    return { error: `${status} ${json.errorType ?? ""} ${json.error ?? JSON.stringify(json)}`, result: [] };
  return { result: json.data.result };
}

/** The summed value of an instant query (0 when it returns nothing). */
async function valueOf(promql: string): Promise<number> {
  const { error, result } = await query(promql);
  if (error !== undefined) throw new Error(`${promql}: ${error}`);
  return result.reduce((sum, sample) => sum + Number(sample.value[1]), 0);
}

/** Polls `read` until it returns something, for at most `timeoutMs`. */
async function eventually<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  let found: T | undefined;
  await waitFor(async () => (found = await read()) !== undefined, what, { timeoutMs, intervalMs: 500 });
  return found as T;
}

interface QueryEntry {
  readonly source: "panel" | "variable" | "record" | "alert";
  readonly file: string;
  readonly name: string;
  readonly promql: string;
}

/**
 * Dashboard series that only exist once their event happened, and why this run
 * has none: everything else must return data.
 */
const EVENT_ONLY: readonly (readonly [RegExp, string])[] = [
  [/trellis_breaker_rejections_total/, "no breaker opens while both services are healthy"],
  [/trellis_retry_budget_exhausted_total/, "no retry budget runs out while both services are healthy"],
];

describe("the observability pipeline: Prometheus, Jaeger and Elasticsearch see exactly what the services did", () => {
  const run = hex(4);
  let user: ServiceProcess;
  let chat: ServiceProcess;
  let targetsFile: string;
  const ruleFiles: string[] = [];
  // The trace the test starts and sends to chat (a browser or the edge would).
  const traceId = hex(16);
  const rootSpanId = hex(8);
  const instance = (service: ServiceProcess): string => `127.0.0.1:${service.adminPort}`;

  before(async () => {
    const telemetry = {
      OTEL_EXPORTER_OTLP_ENDPOINT: env("TEST_COLLECTOR_OTLP_ENDPOINT"),
      OTEL_TRACES_SAMPLER: "parentbased_always_on",
      LOG_FORMAT: "json",
    };
    user = await startServiceProcess(USER_MAIN, {
      env: { ...telemetry, OTEL_SERVICE_NAME: `user-${run}` },
      startTimeoutMs: START_TIMEOUT_MS,
    });
    chat = await startServiceProcess(CHAT_MAIN, {
      env: { ...telemetry, OTEL_SERVICE_NAME: `chat-${run}`, TRELLIS_STATIC_SERVICES: `user=${user.address}` },
      startTimeoutMs: START_TIMEOUT_MS,
    });
    targetsFile = join(env("TEST_PROMETHEUS_TARGETS_DIR"), `observability-${run}.json`);
    await writeFile(
      targetsFile,
      JSON.stringify([
        { targets: [instance(user)], labels: { job: "user" } },
        { targets: [instance(chat)], labels: { job: "chat" } },
      ]),
    );
    const rulesDir = join(REPO, "deploy/prometheus/rules");
    for (const file of (await readdir(rulesDir)).filter((f) => f.endsWith(".yml"))) {
      const copy = join(env("TEST_PROMETHEUS_RULES_DIR"), `${run}-${file}`);
      await copyFile(join(rulesDir, file), copy);
      ruleFiles.push(copy);
    }
    const reload = await fetch(`${env("TEST_PROMETHEUS_URL")}/-/reload`, { method: "POST" });
    assert.equal(reload.status, 200, "Prometheus reloads its rules");
  });

  after(async () => {
    await chat?.stop();
    await user?.stop();
    await Promise.all([targetsFile, ...ruleFiles].filter(Boolean).map((file) => rm(file, { force: true })));
  });

  it("counts exactly the calls made, by method and code, on the server and on chat's client to user", async () => {
    const users = createClient(UserService, user.address, { resilience: false });
    const rooms = createClient(ChatService, chat.address, { resilience: false });
    try {
      const created = [];
      for (let i = 0; i < 4; i++) {
        const { user: made } = await users.createUser({ email: `obs-${run}-${i}@example.com`, displayName: `Observer ${i}` });
        assert.ok(made);
        created.push(made);
      }
      assert.equal((await rpcFailure(users.createUser({ email: "not an email", displayName: "x" }))).code, Code.INVALID_ARGUMENT);
      for (const made of created) await users.getUser({ id: made.id });
      for (let i = 0; i < 2; i++) assert.equal((await rpcFailure(users.getUser({ id: randomUUID() }))).code, Code.NOT_FOUND);
      // A malformed request (a truncated field) and a method the service does not have.
      const malformed = await rawGrpcCall(user.address, "/trellis.user.v1.UserService/GetUser", {
        body: [grpcFrame(Buffer.from([0x0a, 0x10, 0x61]))],
      });
      assert.equal(malformed.grpcStatus, Code.INVALID_ARGUMENT);
      const unknown = await rawGrpcCall(user.address, `/trellis.user.v1.UserService/NoSuchMethod${run}`, {
        body: [grpcFrame(Buffer.alloc(0))],
      });
      assert.equal(unknown.grpcStatus, Code.UNIMPLEMENTED);
      // A response stream: the snapshot of the four users and its end marker, then the client goes.
      const watch = new AbortController();
      let streamed = 0;
      try {
        for await (const change of users.watchUsers({ includeSnapshot: true }, { signal: watch.signal })) {
          streamed += 1;
          if (change.type === ChangeType.SNAPSHOT_END) watch.abort();
        }
      } catch (error) {
        if (!watch.signal.aborted) throw error;
      }
      assert.equal(streamed, 5);
      // Each message has a sender chat has not seen: one GetUser from chat to user each.
      for (const [i, made] of created.entries()) {
        const headers = i === 0 ? { traceparent: `00-${traceId}-${rootSpanId}-01` } : undefined;
        await rooms.send({ room: `observability-${run}`, senderId: made.id, text: `hello ${i}` }, headers === undefined ? {} : { headers });
      }
    } finally {
      closeClient(users);
      closeClient(rooms);
    }

    const u = `instance="${instance(user)}"`;
    const c = `instance="${instance(chat)}"`;
    const service = 'grpc_service="trellis.user.v1.UserService"';
    const expected: Record<string, number> = {
      [`grpc_server_started_total{${u},${service},grpc_method="GetUser"}`]: 4 + 2 + 1 + 4,
      [`grpc_server_handled_total{${u},${service},grpc_method="GetUser",grpc_code="OK"}`]: 8,
      [`grpc_server_handled_total{${u},${service},grpc_method="GetUser",grpc_code="NotFound"}`]: 2,
      [`grpc_server_handled_total{${u},${service},grpc_method="GetUser",grpc_code="InvalidArgument"}`]: 1,
      [`grpc_server_handling_seconds_count{${u},${service},grpc_method="GetUser"}`]: 11,
      [`grpc_server_handled_total{${u},${service},grpc_method="CreateUser",grpc_code="OK"}`]: 4,
      [`grpc_server_handled_total{${u},${service},grpc_method="CreateUser",grpc_code="InvalidArgument"}`]: 1,
      [`grpc_server_msg_received_total{${u},${service},grpc_method="CreateUser"}`]: 5,
      [`grpc_server_msg_sent_total{${u},${service},grpc_method="CreateUser"}`]: 4,
      [`grpc_server_handled_total{${u},grpc_service="unknown",grpc_method="unknown",grpc_code="Unimplemented"}`]: 1,
      [`grpc_server_msg_sent_total{${u},${service},grpc_method="WatchUsers",grpc_type="server_stream"}`]: 5,
      [`grpc_server_handled_total{${u},${service},grpc_method="WatchUsers",grpc_code="Canceled"}`]: 1,
      [`grpc_server_handled_total{${c},grpc_service="trellis.chat.v1.ChatService",grpc_method="Send",grpc_code="OK"}`]: 4,
      [`grpc_client_started_total{${c},${service},grpc_method="GetUser"}`]: 4,
      [`grpc_client_handled_total{${c},${service},grpc_method="GetUser",grpc_code="OK"}`]: 4,
      [`grpc_client_handling_seconds_count{${c},${service},grpc_method="GetUser"}`]: 4,
    };
    let seen: Record<string, number> = {};
    const matches = async (): Promise<boolean> => {
      seen = Object.fromEntries(await Promise.all(Object.keys(expected).map(async (series) => [series, await valueOf(series)] as const)));
      return Object.entries(expected).every(([series, value]) => seen[series] === value);
    };
    await waitFor(matches, "Prometheus' series to match the calls made", { timeoutMs: 60_000, intervalMs: 500 }).catch(() => {
      assert.deepEqual(seen, expected, "Prometheus' series match the calls made");
    });
    // Two scrapes later they still match: nothing is counted twice.
    const scraped = await valueOf(`timestamp(up{${u}})`);
    await waitFor(async () => (await valueOf(`timestamp(up{${u}})`)) > scraped + 1, "two more scrapes of user", {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    assert.ok(await matches(), JSON.stringify(seen));
  });

  it("runs every dashboard and rule expression: each one parses, and each panel, variable and recording rule returns data", async () => {
    const { queries } = JSON.parse(await readFile(join(REPO, "deploy/grafana/dashboards/queries.json"), "utf8")) as {
      queries: QueryEntry[];
    };
    assert.ok(queries.length > 100, `queries.json lists ${queries.length} expressions`);
    const wantData = queries.filter((q) => q.source !== "alert" && !EVENT_ONLY.some(([pattern]) => pattern.test(q.promql)));
    // Rates need two scrapes in their window and recorded series a rule evaluation: poll until they are there.
    let empty: QueryEntry[] = [];
    const errors: string[] = [];
    await waitFor(
      async () => {
        errors.length = 0;
        empty = [];
        for (const q of queries) {
          const { error, result } = await query(q.promql);
          if (error !== undefined) errors.push(`${q.file} ${q.name}: ${error}`);
          else if (result.length === 0 && wantData.includes(q)) empty.push(q);
        }
        return errors.length === 0 && empty.length === 0;
      },
      "every expression to return data",
      { timeoutMs: 90_000, intervalMs: 1_000 },
    ).catch(() => undefined);
    assert.deepEqual(errors, [], "every expression parses and runs");
    assert.deepEqual(
      empty.map((q) => `${q.file} · ${q.source} · ${q.name}: ${q.promql}`),
      [],
      "every panel, variable and recording rule returns data",
    );
  });

  it("makes one trace of a chat → user call in Jaeger, each span the child of the one that caused it", async () => {
    type Span = { spanId: string; parentSpanId?: string; name: string; kind: number | string; traceId: string };
    const spans = await eventually("the trace in Jaeger", async () => {
      const { status, json } = await getJson(`${env("TEST_JAEGER_QUERY_URL")}/api/v3/traces/${traceId}`);
      if (status !== 200) return undefined;
      const found: (Span & { service: string })[] = json.result.resourceSpans.flatMap((rs: Json) => {
        const service = rs.resource.attributes.find((a: Json) => a.key === "service.name")?.value.stringValue as string;
        return rs.scopeSpans.flatMap((ss: Json) => ss.spans.map((s: Span) => ({ ...s, service })));
      });
      const userServer = found.find((s) => s.service === `user-${run}` && s.name === "trellis.user.v1.UserService/GetUser");
      return userServer === undefined ? undefined : found;
    });
    assert.ok(
      spans.every((s) => s.traceId === traceId),
      "every span is in the trace the caller started",
    );
    // OTLP JSON spells kinds as numbers (SPAN_KIND_SERVER = 2, SPAN_KIND_CLIENT = 3) or as names.
    const kindOf = (span: Span): string => ({ 2: "SERVER", 3: "CLIENT" })[Number(span.kind)] ?? String(span.kind);
    const one = (service: string, name: string, kind: string): Span & { service: string } => {
      const matching = spans.filter((s) => s.service === service && s.name === name && kindOf(s).includes(kind));
      assert.equal(
        matching.length,
        1,
        `one ${kind} span ${name} from ${service}: ${JSON.stringify(spans.map((s) => [s.service, s.name, s.kind]))}`,
      );
      return matching[0]!;
    };
    const send = one(`chat-${run}`, "trellis.chat.v1.ChatService/Send", "SERVER");
    const lookup = one(`chat-${run}`, "trellis.user.v1.UserService/GetUser", "CLIENT");
    const served = one(`user-${run}`, "trellis.user.v1.UserService/GetUser", "SERVER");
    assert.equal(send.parentSpanId, rootSpanId, "chat's server span continues the caller's traceparent");
    assert.equal(lookup.parentSpanId, send.spanId, "chat's call to user is a child of the Send it serves");
    assert.equal(served.parentSpanId, lookup.spanId, "user's server span is a child of chat's client span");
    const database = spans.filter((s) => s.service === `user-${run}` && s.parentSpanId === served.spanId);
    assert.ok(database.length > 0, "the user service's database work is a child of the call it serves");
  });

  it("writes every access line as ECS JSON with its call's trace id, and the collector ships them to Elasticsearch", async () => {
    const access = (service: ServiceProcess): Readonly<Record<string, unknown>>[] =>
      service.logs.filter((line) => line.message === "call ok" || line.message === "call failed");
    for (const [name, service] of [
      ["user", user],
      ["chat", chat],
    ] as const) {
      const lines = access(service);
      assert.ok(lines.length > 0, `${name} wrote access lines`);
      for (const line of lines) {
        for (const field of ["@timestamp", "log.level", "message", "ecs.version", "service.name", "rpc.method", "grpc.code"]) {
          assert.ok(line[field] !== undefined, `${name}: ${field} in ${JSON.stringify(line)}`);
        }
        assert.match(
          String(line["trace.id"]),
          /^[0-9a-f]{32}$/,
          `${name}: every call is traced here, so every line has a trace id: ${JSON.stringify(line)}`,
        );
      }
    }
    const sendLine = access(chat).find((line) => line["trace.id"] === traceId && line["rpc.method"] === "trellis.chat.v1.ChatService/Send");
    assert.ok(sendLine, "chat's line for the traced Send carries the caller's trace id");
    assert.ok(
      access(user).some((line) => line["trace.id"] === traceId && line["rpc.method"] === "trellis.user.v1.UserService/GetUser"),
      "user's line for the call chat made carries the same trace id",
    );

    // The processes' stdout, as a container runtime would keep it, in the folder the collector tails.
    const logDir = env("TEST_COLLECTOR_LOG_DIR");
    for (const [name, service] of [
      ["user", user],
      ["chat", chat],
    ] as const) {
      await writeFile(join(logDir, `${name}-${run}.log`), service.logs.map((line) => JSON.stringify(line)).join("\n") + "\n");
    }
    const hits = await eventually("the trace's lines in Elasticsearch", async () => {
      const { status, json } = await getJson(`${env("TEST_ELASTICSEARCH_URL")}/trellis-logs-*/_search?allow_no_indices=true`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: { term: { "trace.id": traceId } }, size: 50 }),
      });
      if (status !== 200) return undefined;
      const sources = json.hits.hits.map((hit: Json) => hit._source as Record<string, unknown>);
      return sources.some((s: Record<string, unknown>) => s["service.name"] === "user") &&
        sources.some((s: Record<string, unknown>) => s["service.name"] === "chat")
        ? sources
        : undefined;
    });
    const indexedSend = hits.find((s: Record<string, unknown>) => s["rpc.method"] === "trellis.chat.v1.ChatService/Send");
    assert.ok(indexedSend, "chat's line for the traced Send is indexed");
    for (const [field, value] of Object.entries(sendLine)) assert.deepEqual(indexedSend[field], value, `${field} indexed as written`);
  });
});

describe("a collector that is down or never answers costs the calls nothing", () => {
  const silent: Socket[] = [];
  let blackhole: Server;
  before(async () => {
    // Accepts connections and never reads or answers: the slowest collector there is.
    blackhole = createServer((socket) => silent.push(socket.pause()));
    await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
  });
  after(async () => {
    for (const socket of silent) socket.destroy();
    await new Promise((resolve) => blackhole.close(resolve));
  });

  for (const [what, endpoint] of [
    ["never answers", () => `http://127.0.0.1:${(blackhole.address() as { port: number }).port}`],
    ["is down", () => "http://127.0.0.1:1"],
  ] as const) {
    it(`serves every call when the collector ${what}, and counts the spans it could not export`, async () => {
      const service = await startServiceProcess(USER_MAIN, {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint(), OTEL_TRACES_SAMPLER: "always_on", OTEL_BSP_MAX_QUEUE_SIZE: "64" },
        startTimeoutMs: START_TIMEOUT_MS,
      });
      const users = createClient(UserService, service.address, { resilience: false });
      try {
        const { user: made } = await users.createUser({ email: `${randomUUID()}@example.com`, displayName: "Lost spans" });
        assert.ok(made);
        for (let i = 0; i < 300; i++) assert.equal((await users.getUser({ id: made.id })).user?.id, made.id);
        const lost = async (): Promise<number> => {
          const text = await (await fetch(`http://127.0.0.1:${service.adminPort}/metrics`)).text();
          let total = 0;
          for (const match of text.matchAll(/^trellis_otel_spans_total\{outcome="(dropped|failed)"\} (\S+)/gm)) total += Number(match[2]);
          return total;
        };
        await waitFor(async () => (await lost()) > 0, "spans counted as dropped or failed", { timeoutMs: 60_000, intervalMs: 500 });
        assert.equal(await service.healthz(), 200);
      } finally {
        closeClient(users);
        await service.stop();
      }
    });
  }
});
