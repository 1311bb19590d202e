#!/usr/bin/env node
// Trellis benchmark harness: `npm run bench [-- flags]`. See bench/README.md.
// Builds and starts each peer (pinned to core 0), runs the same scenarios against each with
// the load generator pinned to core 1, and writes results/latest.json, results/report.md and
// results/*.svg (or results/smoke/ with --smoke).
import { parseArgs } from "node:util";
import { existsSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { PEERS, PEER_IDS, peerById, peerExists, buildPeer, startPeer, startChat, CHAT_ENTRY } from "./lib/peers.mjs";
import { h2load, ghz, autocannon } from "./lib/tools.mjs";
import { Progress, cpuSeconds, peakRss, run, summarize, tail } from "./lib/util.mjs";
import { machineInfo, versions } from "./lib/system.mjs";
import { writeReport } from "./lib/report.mjs";
import { profilePeer } from "./lib/profile.mjs";
import { securityEstimate, runSecurity } from "./lib/security.mjs";
import { observabilityEstimate, runObservability } from "./lib/observability.mjs";
import { edgeEstimate, runEdge } from "./lib/edge.mjs";

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);
const require = createRequire(import.meta.url);
process.chdir(ROOT);
// ghz lives where .ci/install.sh builds the Go tools.
const ciBin = join(
  process.env.CI_TOOLS_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/root", ".cache"), "trellis-ci"),
  "bin",
);
process.env.PATH = `${ciBin}:${process.env.PATH}`;

export const SCENARIOS = [
  { id: "tiny-unary", label: "tiny unary: GetUser (one ~120-byte user)" },
  { id: "large-unary", label: "large unary: ListUsers page_size=100 (~12 KB)" },
  { id: "server-streaming", label: "server streaming: WatchUsers include_snapshot (1,000 users + end marker)" },
  { id: "bidi-ping-pong", label: "bidi ping-pong: ChatService/Chat, each post waits for its echo" },
  { id: "service-to-service", label: "service to service: ChatService/Send (chat calls user)" },
  {
    id: "security",
    label: "security: saturation at 2× capacity with load shedding off and on; the cost of TLS, auth and rate limits on tiny unary calls",
  },
  { id: "observability", label: "observability: tiny unary on Trellis with access logs, metrics and tracing on and off" },
  {
    id: "edge",
    label:
      "edge: gRPC-Web unary (GetUser) and server streaming (WatchUsers) through the Trellis edge and through Envoy's grpc_web filter, against direct gRPC",
  },
];
const SCENARIO_IDS = SCENARIOS.map((s) => s.id);
const CHAT_SCENARIOS = new Set(["bidi-ping-pong", "service-to-service"]);

// ---------------------------------------------------------------- flags
const { values: flags } = parseArgs({
  options: {
    peers: { type: "string" },
    scenarios: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    reps: { type: "string" },
    smoke: { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    "no-profile": { type: "boolean", default: false },
    "peers-dir": { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  process.stdout.write(`npm run bench -- [--peers a,b] [--scenarios x,y] [--duration 10] [--warmup 3] [--reps 3]
                       [--smoke] [--no-build] [--no-profile] [--peers-dir bench/peers] [--out dir]
peers:     ${PEER_IDS.join(", ")}
scenarios: ${SCENARIO_IDS.join(", ")}
`);
  process.exit(0);
}
const smoke = flags.smoke;
const peersDir = flags["peers-dir"] ?? join(BENCH, "peers");
const settings = {
  mode: smoke ? "smoke" : "full",
  duration: Number(flags.duration ?? (smoke ? 1 : 10)),
  warmup: Number(flags.warmup ?? (smoke ? 0.5 : 3)),
  reps: Number(flags.reps ?? (smoke ? 1 : 3)),
  inFlight: 100,
  // The CPU-profile step (tiny unary, Trellis and the bare grpc-js peers): calls per profiled peer.
  profileCalls: smoke ? 2_000 : 200_000,
  serverCore: 0,
  clientCore: 1,
};
for (const k of ["duration", "warmup", "reps"]) {
  if (!Number.isFinite(settings[k]) || settings[k] < 0 || (k !== "warmup" && settings[k] <= 0)) {
    console.error(`bench: --${k} must be a positive number`);
    process.exit(2);
  }
}
const split = (s) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const unknown = (list, known, what) => {
  const bad = list.filter((x) => !known.includes(x));
  if (bad.length) {
    console.error(`bench: unknown ${what}: ${bad.join(", ")} (known: ${known.join(", ")})`);
    process.exit(2);
  }
};
let peerIds;
if (flags.peers) {
  peerIds = split(flags.peers);
  unknown(peerIds, PEER_IDS, "peer");
} else if (smoke) {
  // Smoke: every peer whose entry file exists (a peer not written yet is listed as missing).
  peerIds = PEER_IDS.filter((id) => peerExists(peersDir, peerById(id)));
} else {
  peerIds = PEER_IDS;
}
const scenarioIds = flags.scenarios ? split(flags.scenarios) : SCENARIO_IDS;
unknown(scenarioIds, SCENARIO_IDS, "scenario");
settings.peers = peerIds;
settings.scenarios = scenarioIds;
settings.explicitPeers = Boolean(flags.peers);
const PROFILED_PEERS = ["trellis", "grpc-js-proto-loader", "grpc-js-protobuf-es"];
settings.profiledPeers =
  flags["no-profile"] || !scenarioIds.includes("tiny-unary") ? [] : PROFILED_PEERS.filter((id) => peerIds.includes(id));
const outDir = flags.out ?? join(BENCH, "results", smoke ? "smoke" : "");
// Per run: agents sharing a machine (and a checkout) run the bench at once, and each run removes its own.
const tmpDir = join(BENCH, "results", "tmp", String(process.pid));
mkdirSync(outDir, { recursive: true });
mkdirSync(tmpDir, { recursive: true });

// ---------------------------------------------------------------- requests
const USER7 = "00000000-0000-4000-8000-000000000007";
/** The headers h2load sends with every gRPC request. */
const GRPC_HEADERS = ["content-type: application/grpc", "te: trailers"];
const userPb = () => import("@trellis/api/trellis/user/v1/user_pb.js");
const chatPb = () => import("@trellis/api/trellis/chat/v1/chat_pb.js");
const grpcFrame = (bytes) => {
  const f = Buffer.alloc(5 + bytes.length);
  f.writeUInt32BE(bytes.length, 1);
  Buffer.from(bytes).copy(f, 5);
  return f;
};
const USER_PROTO = { proto: "packages/api/proto/trellis/user/v1/user.proto", importPaths: ["packages/api/proto", "packages/kit/proto"] };
const CHAT_PROTO = { proto: "packages/api/proto/trellis/chat/v1/chat.proto", importPaths: ["packages/api/proto", "packages/kit/proto"] };

/** Unary call descriptions: gRPC path + request bytes + ghz call + REST path + a response check. */
async function unaryCalls() {
  const pb = await userPb();
  const cpb = await chatPb();
  const enc = (schema, init) => toBinary(schema, create(schema, init));
  return {
    "tiny-unary": {
      path: "/trellis.user.v1.UserService/GetUser",
      request: enc(pb.GetUserRequestSchema, { id: USER7 }),
      ghz: { ...USER_PROTO, method: "trellis.user.v1.UserService/GetUser", data: { id: USER7 } },
      rest: `/v1/users/${USER7}`,
      check: (buf) => {
        const r = fromBinary(pb.GetUserResponseSchema, buf);
        if (r.user?.id !== USER7) throw new Error(`GetUser returned user ${JSON.stringify(r.user?.id)}`);
      },
      checkRest: (j) => {
        const u = j.user ?? j;
        if (u.id !== USER7) throw new Error(`GET /v1/users/<id> returned ${JSON.stringify(j).slice(0, 80)}`);
      },
    },
    "large-unary": {
      path: "/trellis.user.v1.UserService/ListUsers",
      request: enc(pb.ListUsersRequestSchema, { pageSize: 100 }),
      ghz: { ...USER_PROTO, method: "trellis.user.v1.UserService/ListUsers", data: { page_size: 100 } },
      rest: "/v1/users?page_size=100",
      check: (buf) => {
        const r = fromBinary(pb.ListUsersResponseSchema, buf);
        if (r.users.length !== 100) throw new Error(`ListUsers returned ${r.users.length} users, not 100`);
      },
      checkRest: (j) => {
        if (!Array.isArray(j.users) || j.users.length !== 100)
          throw new Error(`GET /v1/users?page_size=100 returned ${j.users?.length} users`);
      },
    },
    "service-to-service": {
      path: "/trellis.chat.v1.ChatService/Send",
      request: enc(cpb.SendRequestSchema, { room: "bench-s2s", senderId: USER7, text: "hello" }),
      ghz: { ...CHAT_PROTO, method: "trellis.chat.v1.ChatService/Send", data: { room: "bench-s2s", sender_id: USER7, text: "hello" } },
      check: (buf) => {
        const r = fromBinary(cpb.SendResponseSchema, buf);
        if (r.message?.text !== "hello") throw new Error(`Send returned ${JSON.stringify(r.message?.text)}`);
      },
    },
  };
}

/** One real call with @grpc/grpc-js, its reply checked, before any load is put on a peer. */
function grpcCheck(port, call) {
  return new Promise((resolve, reject) => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const raw = (b) => b;
    client.makeUnaryRequest(call.path, raw, raw, Buffer.from(call.request), { deadline: Date.now() + 10_000 }, (err, res) => {
      client.close();
      if (err) return reject(new Error(`check call ${call.path}: ${err.code} ${err.details}`));
      try {
        call.check(res);
        resolve(res.length);
      } catch (e) {
        reject(e);
      }
    });
  });
}

async function restCheck(port, call) {
  const r = await globalThis.fetch(`http://127.0.0.1:${port}${call.rest}`, { signal: globalThis.AbortSignal.timeout(10_000) });
  if (r.status !== 200) throw new Error(`check GET ${call.rest}: HTTP ${r.status}`);
  call.checkRest(await r.json());
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- measuring
const cpuOf = (pids) => pids.reduce((a, p) => a + (cpuSeconds(p) ?? NaN), 0);

/** Runs fn() with the servers' CPU seconds read before and after; adds cpuPer1k (s per 1k calls). */
async function withCpu(pids, fn) {
  const c0 = cpuOf(pids);
  const r = await fn();
  const c1 = cpuOf(pids);
  if (Number.isFinite(c0) && Number.isFinite(c1) && r.calls > 0) r.cpuPer1k = ((c1 - c0) / r.calls) * 1000;
  return r;
}

function checkErrors(r, what) {
  if (r.errors > Math.max(2, r.calls * 0.01)) {
    throw new Error(`${what}: ${r.errors} failed calls of ${r.calls + r.errors}${r.errorSample ? ` (${r.errorSample})` : ""}`);
  }
}

/** One repetition of a unary scenario. Returns a flat row of numbers. */
async function unaryRep({ kind, port, pids, call, tag, progress }) {
  const d = settings.duration;
  const w = settings.warmup;
  const row = {};
  if (kind === "grpc") {
    const target = {
      url: `http://127.0.0.1:${port}${call.path}`,
      dataFile: call.dataFile,
      headers: GRPC_HEADERS,
    };
    progress(`throughput, h2load -c 1 -m ${settings.inFlight}`);
    if (w > 0) await h2load(target, { mode: "throughput", duration: w, warmup: true });
    const t = await withCpu(pids, () => h2load(target, { mode: "throughput", duration: d }));
    checkErrors(t, "h2load throughput");
    Object.assign(row, {
      callsPerSec: t.callsPerSec,
      bytesPerCall: t.bytesPerCall,
      headerBytesPerCall: t.headerBytesPerCall,
      dataBytesPerCall: t.dataBytesPerCall,
      cpuPer1k: t.cpuPer1k,
      loadMeanUs: t.meanUs,
      errors: t.errors,
    });
    progress("latency one at a time, h2load -c 1 -m 1");
    const l = await h2load(target, { mode: "latency", duration: d, tmpDir, tag });
    checkErrors(l, "h2load latency");
    Object.assign(row, { p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p999, latMeanUs: l.meanUs, latCallsPerSec: l.callsPerSec });
    progress("latency one at a time, ghz -c 1 --rps 0");
    const g = await ghz(call.ghz, `127.0.0.1:${port}`, { duration: d });
    checkErrors(g, "ghz");
    Object.assign(row, { toolCallsPerSec: g.callsPerSec, toolP50: g.p50, toolP90: g.p90, toolP99: g.p99, toolP999: g.p999 });
  } else {
    const target = { url: `http://127.0.0.1:${port}${call.rest}`, h1: true };
    const acBin = require.resolve("autocannon/autocannon.js");
    progress(`throughput, autocannon -c ${settings.inFlight} -p 1`);
    if (w > 0) await autocannon(target.url, { connections: settings.inFlight, duration: Math.max(1, Math.round(w)), autocannonBin: acBin });
    const a = await withCpu(pids, () =>
      autocannon(target.url, { connections: settings.inFlight, duration: Math.max(1, Math.round(d)), autocannonBin: acBin }),
    );
    checkErrors(a, "autocannon");
    Object.assign(row, { callsPerSec: a.callsPerSec, bytesPerCall: a.bytesPerCall, cpuPer1k: a.cpuPer1k, errors: a.errors });
    progress(`throughput cross-check, h2load --h1 -c ${settings.inFlight}`);
    const t = await h2load(target, { mode: "throughput", duration: d });
    checkErrors(t, "h2load --h1 throughput");
    Object.assign(row, {
      h2CallsPerSec: t.callsPerSec,
      h2BytesPerCall: t.bytesPerCall,
      headerBytesPerCall: t.headerBytesPerCall,
      dataBytesPerCall: t.dataBytesPerCall,
      loadMeanUs: t.meanUs,
    });
    progress("latency one at a time, h2load --h1 -c 1 -m 1");
    const l = await h2load(target, { mode: "latency", duration: d, tmpDir, tag });
    checkErrors(l, "h2load latency");
    Object.assign(row, { p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p999, latMeanUs: l.meanUs, latCallsPerSec: l.callsPerSec });
    progress("latency one at a time, autocannon -c 1 (1 ms resolution)");
    const a1 = await autocannon(target.url, { connections: 1, duration: Math.max(1, Math.round(d)), autocannonBin: acBin });
    checkErrors(a1, "autocannon -c 1");
    Object.assign(row, { toolCallsPerSec: a1.callsPerSec, toolP50: a1.p50, toolP90: a1.p90, toolP99: a1.p99, toolP999: a1.p999 });
  }
  return row;
}

/** One repetition of a streaming scenario via bench/lib/stream-client.mjs on core 1. */
async function streamRep({ mode, port, pids, progress }) {
  progress(mode === "watch" ? "WatchUsers streams, grpc-js client" : "Chat ping-pong, grpc-js client");
  const args = [
    "-c",
    String(settings.clientCore),
    process.execPath,
    join(BENCH, "lib", "stream-client.mjs"),
    "--mode",
    mode,
    "--target",
    `127.0.0.1:${port}`,
    "--duration",
    String(settings.duration),
    "--warmup",
    String(settings.warmup),
  ];
  // CPU is read around the whole client run (warm-up included), so take the measured share.
  const c0 = cpuOf(pids);
  const r = await run("taskset", args, { timeoutMs: (settings.duration + settings.warmup + 60) * 1000 });
  const c1 = cpuOf(pids);
  if (r.code !== 0) throw new Error(tail(r.stderr + r.stdout) || `stream client exit ${r.code}`);
  const j = JSON.parse(r.stdout);
  const share = j.seconds / (j.seconds + settings.warmup);
  const row = {
    callsPerSec: j.callsPerSec,
    bytesPerCall: j.bytesPerCall,
    p50: j.p50,
    p90: j.p90,
    p99: j.p99,
    p999: j.p999,
    latMeanUs: j.meanUs,
    errors: 0,
  };
  if (j.streamsPerSec !== undefined) Object.assign(row, { streamsPerSec: j.streamsPerSec, messagesPerStream: j.messagesPerStream });
  if (Number.isFinite(c0) && Number.isFinite(c1)) row.cpuPer1k = (((c1 - c0) * share) / j.calls) * 1000;
  return row;
}

// ---------------------------------------------------------------- plan & progress
function applicability(peer, sid) {
  if (sid === "security" && peer.id !== "trellis") return { status: "n/a", reason: "n/a: measures Trellis' own security links" };
  if (sid === "observability" && peer.id !== "trellis") return { status: "n/a", reason: "n/a: measures Trellis' own telemetry" };
  if (sid === "edge" && peer.id !== "trellis") return { status: "n/a", reason: "n/a: proxies in front of the Trellis user service" };
  if (CHAT_SCENARIOS.has(sid) && peer.id !== "trellis") return { status: "n/a", reason: "n/a: no chat service on this stack" };
  if (sid === "server-streaming" && peer.kind === "rest") return { status: "n/a", reason: "n/a: REST peer (no streaming endpoint)" };
  if (CHAT_SCENARIOS.has(sid) && !existsSync(join(peersDir, CHAT_ENTRY))) {
    return { status: "skipped", reason: `skipped: ${relative(ROOT, join(peersDir, CHAT_ENTRY))} does not exist yet` };
  }
  return { status: "run" };
}

function estimate(peer, sid) {
  if (sid === "security") return securityEstimate(settings);
  if (sid === "observability") return observabilityEstimate(settings);
  if (sid === "edge") return edgeEstimate(settings);
  const d = settings.duration;
  const w = settings.warmup;
  if (sid === "server-streaming" || sid === "bidi-ping-pong") return settings.reps * (d + w + 1);
  if (peer.kind === "rest") return settings.reps * (2 * Math.max(1, Math.round(d)) + Math.max(1, Math.round(w)) + 2 * d + 3);
  return settings.reps * (3 * d + w + 1.5);
}

// ---------------------------------------------------------------- main
async function main() {
  const startedAt = new Date().toISOString();
  const peers = peerIds.map(peerById);
  const steps = [{ label: "build (npm run build)", est: 5 }];
  if (peers.some((p) => p.go) && !flags["no-build"]) steps.push({ label: "build grpc-go peer", est: 10 });
  let total = steps.reduce((a, s) => a + s.est, 0);
  let nSteps = steps.length;
  for (const p of peers) {
    nSteps += 2; // start + stop
    total += 3;
    for (const sid of scenarioIds) {
      if (applicability(p, sid).status !== "run") continue;
      const streamed = sid === "server-streaming" || sid === "bidi-ping-pong";
      nSteps +=
        sid === "observability" || sid === "edge" || sid === "security" ? 1 : settings.reps * (streamed ? 1 : p.kind === "rest" ? 4 : 3);
      total += estimate(p, sid);
    }
  }
  nSteps += settings.profiledPeers.length;
  total += settings.profiledPeers.length * (smoke ? 3 : 25);
  const progress = new Progress(total, nSteps);
  process.stderr.write(
    `bench: ${settings.mode} run, peers ${peerIds.join(", ") || "(none)"}; scenarios ${scenarioIds.join(", ")}; ` +
      `${settings.duration} s measured, ${settings.warmup} s warm-up, ${settings.reps} rep(s); server on core ${settings.serverCore}, load on core ${settings.clientCore}\n`,
  );
  if (smoke) {
    const missing = PEER_IDS.filter((id) => !peerIds.includes(id));
    if (missing.length && !flags.peers) process.stderr.write(`bench: smoke: not written yet, left out: ${missing.join(", ")}\n`);
  }

  const results = {
    schema: 1,
    startedAt,
    settings,
    machine: await machineInfo(),
    versions: await versions(),
    peers: {},
  };
  const problems = [];

  if (!flags["no-build"]) {
    progress.begin("build: npm run build (packages/api/dist: generated schemas the peers and clients use)", 5);
    const r = await run("npm", ["run", "--silent", "build"], { timeoutMs: 600_000, cwd: ROOT });
    if (r.code !== 0) {
      console.error(`bench: npm run build failed:\n${tail(r.stdout + r.stderr, 20)}`);
      process.exit(1);
    }
  }
  const calls = await unaryCalls();
  for (const [sid, c] of Object.entries(calls)) {
    c.dataFile = join(tmpDir, `${sid}.grpc-request.bin`);
    writeFileSync(c.dataFile, grpcFrame(c.request));
  }

  const buildFailures = new Map();
  if (peers.some((p) => p.go) && !flags["no-build"]) {
    progress.begin("build: bash bench/peers/go/build.sh", 10);
    const go = peerById("grpc-go");
    if (!peerExists(peersDir, go)) buildFailures.set("grpc-go", "bench/peers/go/build.sh not found");
    else {
      try {
        await buildPeer(peersDir, go);
      } catch (e) {
        buildFailures.set("grpc-go", e.message);
      }
    }
  }

  for (const peer of peers) {
    const pr = { label: peer.label, kind: peer.kind, status: "ok", scenarios: {} };
    results.peers[peer.id] = pr;
    progress.begin(`${peer.id}: start (taskset -c ${settings.serverCore})`, 2);
    let server;
    try {
      if (buildFailures.has(peer.id)) throw new Error(buildFailures.get(peer.id));
      try {
        server = await startPeer(peersDir, peer, await freePort());
      } catch (e) {
        // One retry: on a shared machine a start can be disturbed (port race, a stray signal).
        progress.note(`start failed (${e.message}); retrying once`);
        server = await startPeer(peersDir, peer, await freePort());
      }
      pr.pid = server.pid;
    } catch (e) {
      pr.status = "failed";
      pr.reason = `failed to start: ${e.message}`;
      progress.note(pr.reason);
      if (smoke || settings.explicitPeers) problems.push(`${peer.id}: ${pr.reason}`);
      for (const sid of scenarioIds) pr.scenarios[sid] = { status: "not run", reason: pr.reason };
      // Skip this peer's planned steps in the progress count.
      continue;
    }
    let chat = null;
    let chatError = null;
    for (const sid of scenarioIds) {
      const app = applicability(peer, sid);
      const sr = { status: app.status, reps: [] };
      pr.scenarios[sid] = sr;
      if (app.status !== "run") {
        sr.reason = app.reason;
        continue;
      }
      if (sid === "security") {
        progress.begin(
          `${peer.id} · security (peers on core ${settings.serverCore}, load on core ${settings.clientCore})`,
          estimate(peer, sid),
        );
        try {
          Object.assign(
            sr,
            await runSecurity({
              peersDir,
              freePort,
              settings,
              calls,
              progress: (what) => progress.note(what),
              checkCall: (port, call) => grpcCheck(port, call),
            }),
          );
          const { capacity, overOn, overOff, half } = sr.saturation;
          progress.note(
            `security: at 2× capacity goodput ${Math.round((overOff.goodput / capacity.goodput) * 100)} % unshed, ${Math.round((overOn.goodput / capacity.goodput) * 100)} % shed; p99 ${(overOn.p99 / half.p99).toFixed(2)}× half-load`,
          );
        } catch (e) {
          sr.status = "error";
          sr.reason = `error: ${e.message}`;
          progress.note(`${sid}: ${sr.reason}`);
          problems.push(`${peer.id} · ${sid}: ${e.message}`);
        }
        continue;
      }
      if (sid === "observability") {
        progress.begin(`${peer.id} · observability`, estimate(peer, sid));
        try {
          const call = calls["tiny-unary"];
          Object.assign(
            sr,
            await runObservability({
              peersDir,
              peer,
              freePort,
              settings,
              tmpDir,
              target: { path: call.path, dataFile: call.dataFile, headers: GRPC_HEADERS },
              progress: (what) => progress.note(what),
              checkCall: (port) => grpcCheck(port, call),
            }),
          );
          const m = sr.variants;
          progress.note(
            `observability: observed ${(m.observed.median.callsPerSec / m.dark.median.callsPerSec).toFixed(2)}× dark throughput, p99 ${(m.observed.median.p99 / m.dark.median.p99).toFixed(2)}×`,
          );
        } catch (e) {
          sr.status = "error";
          sr.reason = `error: ${e.message}`;
          progress.note(`${sid}: ${sr.reason}`);
          problems.push(`${peer.id} · ${sid}: ${e.message}`);
        }
        continue;
      }
      if (sid === "edge") {
        progress.begin(
          `${peer.id} · edge (edge and Envoy on core ${settings.serverCore}, user service and load on core ${settings.clientCore})`,
          estimate(peer, sid),
        );
        try {
          const call = calls["tiny-unary"];
          Object.assign(
            sr,
            await runEdge({
              peersDir,
              peer,
              freePort,
              settings,
              tmpDir,
              call,
              progress: (what) => progress.note(what),
              checkCall: (port) => grpcCheck(port, call),
            }),
          );
          const paths = sr.paths;
          const added = paths.edge.unary.median.p50 - paths.direct.unary.median.p50;
          const ratio =
            paths.envoy.status === "ok"
              ? ` ${(paths.edge.unary.median.callsPerSec / paths.envoy.unary.median.callsPerSec).toFixed(2)}× Envoy's unary calls/s,`
              : "";
          progress.note(`edge:${ratio} +${Math.round(added)} µs p50 over direct gRPC`);
        } catch (e) {
          sr.status = "error";
          sr.reason = `error: ${e.message}`;
          progress.note(`${sid}: ${sr.reason}`);
          problems.push(`${peer.id} · ${sid}: ${e.message}`);
        }
        continue;
      }
      try {
        if (!server.alive())
          throw new Error(`the peer process has exited (${server.exitInfo()}${server.stderrTail() ? `: ${server.stderrTail()}` : ""})`);
        let port = server.port;
        let pids = [server.pid];
        if (CHAT_SCENARIOS.has(sid)) {
          if (!chat && !chatError) {
            progress.note("starting trellis-chat (taskset -c 0)");
            try {
              chat = await startChat(peersDir, await freePort(), server.port);
            } catch (e) {
              chatError = `chat peer failed to start: ${e.message}`;
            }
          }
          if (chatError) throw new Error(chatError);
          port = chat.port;
          pids = [server.pid, chat.pid];
        }
        if (calls[sid]) {
          if (peer.kind === "grpc") await grpcCheck(port, calls[sid]);
          else await restCheck(port, calls[sid]);
        }
        for (let rep = 1; rep <= settings.reps; rep++) {
          const subSteps = peer.kind === "rest" && calls[sid] ? 4 : calls[sid] ? 3 : 1;
          const per = estimate(peer, sid) / settings.reps / subSteps;
          const say = (what) => progress.begin(`${peer.id} · ${sid} · rep ${rep}/${settings.reps}: ${what}`, per);
          let row;
          if (sid === "server-streaming") row = await streamRep({ mode: "watch", port, pids, progress: say });
          else if (sid === "bidi-ping-pong") row = await streamRep({ mode: "chat-pingpong", port, pids, progress: say });
          else row = await unaryRep({ kind: peer.kind, port, pids, call: calls[sid], tag: `${peer.id}-${sid}-${rep}`, progress: say });
          sr.reps.push(row);
        }
        Object.assign(sr, summarize(sr.reps));
        sr.status = "ok";
        sr.peakRssBytes = pids.map(peakRss).reduce((a, b) => a + (b ?? 0), 0) || null;
        sr.median.peakRssBytes = sr.peakRssBytes;
        progress.note(
          `${sid}: ${Math.round(sr.median.callsPerSec).toLocaleString("en-US")} calls/s, p50 ${fmtUs(sr.median.p50)}, p99 ${fmtUs(sr.median.p99)}`,
        );
      } catch (e) {
        sr.status = "error";
        sr.reason = `error: ${e.message}`;
        progress.note(`${sid}: ${sr.reason}`);
        problems.push(`${peer.id} · ${sid}: ${e.message}`);
      }
    }
    progress.begin(`${peer.id}: stop`, 1);
    pr.peakRssBytes = peakRss(server.pid);
    if (chat) {
      pr.chatPeakRssBytes = peakRss(chat.pid);
      await chat.stop();
    }
    const ex = await server.stop();
    if (ex && ex.signal === "SIGKILL") progress.note(`${peer.id} did not exit on SIGTERM within 5 s (killed)`);
  }

  if (settings.profiledPeers.length > 0) {
    results.profile = { calls: settings.profileCalls, peers: {} };
    const target = { path: calls["tiny-unary"].path, dataFile: calls["tiny-unary"].dataFile, headers: GRPC_HEADERS };
    for (const id of settings.profiledPeers) {
      const peer = peerById(id);
      progress.begin(`${id}: CPU profile, ${settings.profileCalls.toLocaleString("en-US")} tiny unary calls`, smoke ? 3 : 25);
      try {
        results.profile.peers[id] = await profilePeer({
          peersDir,
          peer,
          port: await freePort(),
          target,
          calls: settings.profileCalls,
          outDir,
          tmpDir,
          title: `${peer.label}: tiny unary (GetUser), h2load -c 1 -m 100`,
        });
      } catch (e) {
        results.profile.peers[id] = { error: e.message };
        progress.note(`profile: ${e.message}`);
        problems.push(`${id} · profile: ${e.message}`);
      }
    }
  }

  results.finishedAt = new Date().toISOString();
  results.elapsedSeconds = progress.elapsed();
  results.problems = problems;
  writeFileSync(join(outDir, "latest.json"), JSON.stringify(results, null, 2) + "\n");
  const flames = Object.values(results.profile?.peers ?? {})
    .filter((p) => p.flame)
    .map((p) => join(outDir, p.flame));
  const files = [...writeReport(results, outDir, { scenarios: SCENARIOS, peers: PEERS }), ...flames];
  rmSync(tmpDir, { recursive: true, force: true });
  process.stderr.write(
    `bench: done in ${Math.round(progress.elapsed())} s; wrote ${[join(outDir, "latest.json"), ...files].map((f) => relative(ROOT, f)).join(", ")}\n`,
  );
  if (problems.length) {
    process.stderr.write(`bench: ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join("\n")}\n`);
    if (smoke || settings.explicitPeers) process.exit(1);
  }
}

function fmtUs(us) {
  if (typeof us !== "number") return "–";
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`;
}

// A Ctrl-C must not leave pinned servers behind: the children get SIGTERM from the
// terminal's process group; make sure we exit too.
process.on("SIGINT", () => process.exit(130));
main().catch((e) => {
  console.error(`bench: ${e.stack ?? e}`);
  process.exit(1);
});
