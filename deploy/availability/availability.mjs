#!/usr/bin/env node
// Availability with real processes (issue 14 item 7): 3 user, 2 chat and 2 edge instances on a
// real registry (Consul or etcd) and PostgreSQL, under steady traffic through the edges — unary
// calls (GetUser via the edge to user; History via the edge to chat) and server streams (WatchUsers,
// Subscribe) over the Connect protocol — while every instance is replaced one at a time
// (a rolling replacement: start the new one, wait until the registry lists it passing, then
// SIGTERM the old one, which goes NOT_SERVING, deregisters, drains and exits), and then one user
// instance is killed with SIGKILL. Prints calls made and failed per phase, the longest stall, streams
// broken and resumed, and the availability figure.
//
//   npm run availability -- [--registry consul://127.0.0.1:8500 | etcd://127.0.0.1:2379]
//                           [--database postgresql://...] [--workers 8] [--rate 200] [--warmup 5] [--settle 5]
//                           [--soak 600 --restart-every 60] [--json out.json]
// Defaults: TEST_REGISTRY and TEST_DATABASE_URL from the environment (.ci/run sets them).
// --soak N: instead of one replacement round, run N seconds with a rolling replacement of every
// instance starting every --restart-every seconds.
//
// The edges stand for the public entry behind a load balancer: the traffic generator keeps the
// live edges in a pool (a replacement joins it once it answers; an edge leaves it before its
// SIGTERM, as a pod leaves a Service's endpoints before its preStop ends), and a call whose
// connection fails before any response (refused, reset) is sent once to the other edge — what any
// L4/L7 balancer does. Any answer with an error status counts as a failed call; nothing else is
// retried by the generator (the edges' own clients retry what the kit retries).
/* global fetch, AbortSignal, AbortController, setTimeout, setInterval, clearInterval, performance, TextDecoder */
import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnOwnedNode, createTempDir } from "../../packages/kit/dist/testing/index.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const { values: args } = parseArgs({
  options: {
    registry: { type: "string", default: process.env.TEST_REGISTRY ?? "" },
    database: { type: "string", default: process.env.TEST_DATABASE_URL ?? "" },
    workers: { type: "string", default: "8" },
    rate: { type: "string", default: "200" },
    warmup: { type: "string", default: "5" },
    settle: { type: "string", default: "5" },
    soak: { type: "string", default: "0" },
    "restart-every": { type: "string", default: "60" },
    json: { type: "string" },
  },
});
if (!args.registry || !args.database) {
  process.stderr.write(
    "availability: --registry (consul://host:port or etcd://host:port) and --database (a PostgreSQL URL) are required (or TEST_REGISTRY, TEST_DATABASE_URL)\n",
  );
  process.exit(2);
}
const WORKERS = Number(args.workers);
// Calls per second across all unary callers: a steady load, bounded (the machine is shared).
const PACE_MS = (WORKERS * 1000) / Number(args.rate);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const tmp = createTempDir("trellis-availability-");

// --- processes --------------------------------------------------------------------------------
const COUNTS = { user: 3, chat: 2, edge: 2 };
let serial = 0;

/** Starts one instance; resolves once it logged its "listening" line (registered, SERVING). */
async function start(service) {
  const id = `${service}-${++serial}`;
  const child = spawnOwnedNode(join(root, "services", service, "dist", "main.js"), {
    env: {
      ...process.env,
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: "0",
      ADMIN_PORT: "0",
      ...(service === "edge" ? { EDGE_PORT: "0" } : { DATABASE_URL: args.database }),
      TRELLIS_REGISTRY: args.registry,
      TRELLIS_ADVERTISE_HOST: "127.0.0.1",
      // Between deregistering and closing the listener: clients learn the instance left first.
      SHUTDOWN_DELAY_MS: "1000",
      SHUTDOWN_GRACE_MS: "10000",
      LOG_LEVEL: "info",
      LOG_SUCCESS_SAMPLE: "0",
      PGLITE_DATA_DIR: join(tmp.path, id),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const listening = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const entry = JSON.parse(line);
        if (typeof entry["server.port"] === "number") resolve(entry);
      } catch {
        // not a JSON line
      }
    });
    void exited.then((code) => reject(new Error(`${id} exited (${code}) before listening: ${stderr}`)));
  });
  if (process.env.AVAILABILITY_DEBUG) process.stderr.write(`${id} listening on ${listening["server.port"]}\n`);
  return { id, service, child, exited, port: listening["server.port"], httpPort: listening["http.port"] };
}

/** Until the registry lists the instance as passing (Consul's first gRPC check runs within its interval). */
async function registered(instance) {
  if (!args.registry.startsWith("consul://")) return;
  const url = `http://${args.registry.slice("consul://".length)}/v1/health/service/${instance.service}?passing`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const list = await (await fetch(url)).json();
    if (list.some((e) => e.Service.Port === instance.port)) return;
    await sleep(200);
  }
  throw new Error(`${instance.id} not passing in Consul within 30 s`);
}

// --- the load balancer in front of the edges --------------------------------------------------
const pool = [];
let rr = 0;
function pickEdge(not) {
  const choices = pool.filter((e) => e !== not);
  if (choices.length === 0) return not;
  return choices[rr++ % choices.length];
}

/** True when the request provably never got an answer from the edge (connection refused/reset before a response). */
const notAnswered = (error) =>
  error?.name === "TypeError" ||
  /ECONNREFUSED|ECONNRESET|other side closed|SocketError/.test(String(error?.cause?.code ?? error?.cause?.message ?? error));

async function unary(path, body) {
  let edge = pickEdge();
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`http://127.0.0.1:${edge.httpPort}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": "5000" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      return res.ok ? { ok: true } : { ok: false, code: JSON.parse(text || "{}").code ?? `http ${res.status}` };
    } catch (error) {
      if (attempt === 0 && notAnswered(error)) {
        edge = pickEdge(edge);
        continue;
      }
      return { ok: false, code: String(error?.cause?.code ?? error?.name ?? error) };
    }
  }
}

// --- traffic ----------------------------------------------------------------------------------
const stats = {
  phase: "warmup",
  phases: new Map(),
  lastSuccess: 0,
  longestStallMs: 0,
  longestCallMs: 0,
  streams: { opened: 0, broken: 0, resumed: 0, messages: 0 },
};
function record(ok, code, ms) {
  let p = stats.phases.get(stats.phase);
  if (!p) stats.phases.set(stats.phase, (p = { calls: 0, failed: 0, codes: {} }));
  p.calls += 1;
  if (ok) {
    const t = now();
    if (stats.lastSuccess > 0) stats.longestStallMs = Math.max(stats.longestStallMs, t - stats.lastSuccess);
    stats.lastSuccess = t;
    stats.longestCallMs = Math.max(stats.longestCallMs, ms);
  } else {
    p.failed += 1;
    p.codes[code] = (p.codes[code] ?? 0) + 1;
  }
}

let running = true;
async function unaryWorker(i, userId) {
  while (running) {
    const t0 = now();
    const r =
      i % 2 === 0
        ? await unary("/trellis.user.v1.UserService/GetUser", { id: userId })
        : await unary("/trellis.chat.v1.ChatService/History", { room: "availability" });
    const ms = now() - t0;
    record(r.ok, r.code, ms);
    if (ms < PACE_MS) await sleep(PACE_MS - ms);
  }
}

/** Reads Connect envelopes from a streaming response; resolves with how it ended. */
async function readStream(res, onMessage) {
  const reader = res.body.getReader();
  let buf = new Uint8Array(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { end: false };
    const next = new Uint8Array(buf.length + value.length);
    next.set(buf);
    next.set(value, buf.length);
    buf = next;
    while (buf.length >= 5) {
      const len = new DataView(buf.buffer, buf.byteOffset + 1, 4).getUint32(0);
      if (buf.length < 5 + len) break;
      const flags = buf[0];
      const payload = JSON.parse(new TextDecoder().decode(buf.subarray(5, 5 + len)) || "{}");
      buf = buf.subarray(5 + len);
      if (flags & 0x02) return { end: true, error: payload.error };
      onMessage(payload);
    }
  }
}

/** A server stream kept open through the edges: when it breaks it is opened again (WatchUsers from its last resume token). */
async function streamWorker(path, request) {
  let resumeToken;
  let broken = false;
  while (running) {
    const edge = pickEdge();
    const controller = new AbortController();
    const stop = setInterval(() => !running && controller.abort(), 200);
    try {
      const body = JSON.stringify(path.endsWith("WatchUsers") && resumeToken ? { resumeToken } : request);
      const frame = new Uint8Array(5 + Buffer.byteLength(body));
      new DataView(frame.buffer).setUint32(1, Buffer.byteLength(body));
      frame.set(Buffer.from(body), 5);
      const res = await fetch(`http://127.0.0.1:${edge.httpPort}${path}`, {
        method: "POST",
        headers: { "content-type": "application/connect+json", "connect-protocol-version": "1" },
        body: frame,
        signal: controller.signal,
      });
      if (!res.ok) throw new Error(`http ${res.status}`);
      stats.streams.opened += 1;
      if (broken) stats.streams.resumed += 1;
      broken = false;
      const end = await readStream(res, (m) => {
        stats.streams.messages += 1;
        if (m.resumeToken) resumeToken = m.resumeToken;
      });
      if (running) {
        broken = true;
        stats.streams.broken += 1;
        stats.streams.lastEnd = end.error?.code ?? (end.end ? "ok" : "connection closed");
      }
    } catch {
      if (!running) break;
      if (!broken) stats.streams.broken += 1;
      broken = true;
      await sleep(100);
    } finally {
      clearInterval(stop);
    }
  }
}

// --- the scenario -------------------------------------------------------------------------------
const instances = [];
async function replace(instance) {
  const fresh = await start(instance.service);
  await registered(fresh);
  instances.push(fresh);
  if (fresh.service === "edge") pool.push(fresh);
  if (instance.service === "edge") pool.splice(pool.indexOf(instance), 1);
  instance.child.kill("SIGTERM");
  const code = await instance.exited;
  instances.splice(instances.indexOf(instance), 1);
  if (code !== 0) throw new Error(`${instance.id} exited with ${code} after SIGTERM (expected 0)`);
}

async function rollingRound() {
  for (const service of ["user", "chat", "edge"]) {
    for (const old of instances.filter((i) => i.service === service)) await replace(old);
  }
}

const t0 = Date.now();
try {
  for (const service of ["user", "chat", "edge"]) {
    for (let i = 0; i < COUNTS[service]; i++) {
      const inst = await start(service);
      await registered(inst);
      instances.push(inst);
      if (service === "edge") pool.push(inst);
    }
  }
  process.stderr.write(
    `availability: ${instances.length} instances up (${Object.entries(COUNTS)
      .map(([s, n]) => `${n} ${s}`)
      .join(", ")}) on ${args.registry.split(":")[0]} + PostgreSQL in ${Date.now() - t0} ms\n`,
  );
  const created = await fetch(`http://127.0.0.1:${pool[0].httpPort}/v1/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: `availability-${Date.now()}@example.com`, displayName: "Availability" }),
  });
  const userId = (await created.json()).user.id;

  const workers = [
    ...Array.from({ length: WORKERS }, (_, i) => unaryWorker(i, userId)),
    streamWorker("/trellis.user.v1.UserService/WatchUsers", {}),
    streamWorker("/trellis.chat.v1.ChatService/Subscribe", { room: "availability" }),
  ];
  await sleep(Number(args.warmup) * 1000);
  const soak = Number(args.soak);
  if (soak > 0) {
    stats.phase = "soak";
    const end = Date.now() + soak * 1000;
    while (Date.now() < end) {
      const roundStart = Date.now();
      await rollingRound();
      await sleep(Math.max(0, Number(args["restart-every"]) * 1000 - (Date.now() - roundStart)));
    }
  } else {
    stats.phase = "rolling replacement";
    await rollingRound();
    stats.phase = "settle";
    await sleep(Number(args.settle) * 1000);
    stats.phase = "kill -9 of one user";
    const victim = instances.find((i) => i.service === "user");
    victim.child.kill("SIGKILL");
    await victim.exited;
    instances.splice(instances.indexOf(victim), 1);
    await sleep(Number(args.settle) * 1000);
  }
  running = false;
  await Promise.all(workers);
} finally {
  running = false;
  for (const inst of instances) inst.child.kill("SIGTERM");
  await Promise.all(instances.map((i) => i.exited));
  tmp.remove();
}

// --- report -------------------------------------------------------------------------------------
let calls = 0;
let failed = 0;
const rows = [];
for (const [phase, p] of stats.phases) {
  calls += p.calls;
  failed += p.failed;
  rows.push(
    `  ${phase.padEnd(22)} ${String(p.calls).padStart(8)} calls ${String(p.failed).padStart(6)} failed  ${Object.keys(p.codes).length ? JSON.stringify(p.codes) : ""}`,
  );
}
const availability = calls === 0 ? 0 : (calls - failed) / calls;
const report = {
  registry: args.registry.split(":")[0],
  instances: COUNTS,
  phases: Object.fromEntries(stats.phases),
  calls,
  failed,
  availability,
  longestStallMs: Math.round(stats.longestStallMs),
  longestCallMs: Math.round(stats.longestCallMs),
  streams: stats.streams,
  seconds: Math.round((Date.now() - t0) / 1000),
};
process.stdout.write(
  [
    `availability (${report.registry} + PostgreSQL; 3 user, 2 chat, 2 edge; ${WORKERS} unary callers (at most ${args.rate} calls/s) + 2 streams through the edges; ${report.seconds} s)`,
    ...rows,
    `  total ${calls} calls, ${failed} failed: availability ${(availability * 100).toFixed(4)} %`,
    `  longest stall (no call succeeding anywhere): ${report.longestStallMs} ms; slowest successful call ${report.longestCallMs} ms`,
    `  streams: ${stats.streams.opened} opened, ${stats.streams.broken} broken, ${stats.streams.resumed} resumed, ${stats.streams.messages} messages`,
    "",
  ].join("\n"),
);
if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2));
