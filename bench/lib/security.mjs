// The security scenario, two parts, both on the Trellis user peer with the security links
// runService adds (bench/peers/trellis-guarded.mjs), switched by the variables a service reads:
//
// 1. Saturation: ListUsers page_size=100 (a call whose cost is the server's: a 12 KB reply).
//    Each server process is warmed up first (closed loop, not counted). The server's capacity
//    is measured closed-loop (64 calls in flight); then offered load,
//    open-loop (calls started at a fixed rate whatever the server does, each with a 1 s
//    deadline, as real clients): half the capacity (the reference p99), then twice the
//    capacity with shedding off and with it on (TRELLIS_SHED=on), in one run. Reported:
//    goodput (OK calls per second) and the p99 of the admitted (OK) calls. Target with shedding:
//    goodput >= 90 % of capacity and p99 <= 3x the half-load p99. bench/lib/load-client.mjs
//    generates the load (it reads each call's status; h2load cannot tell UNAVAILABLE from OK).
// 2. Cost: tiny unary GetUser with TLS, a bearer token (RS256 JWT verified per call + the user
//    service's rules), a rate limit (in memory, never reached), and all three, against the
//    same peer with none; variants run side by side and are measured in turn (h2load, as the
//    observability scenario). h2load presents no client certificate: TLS here is server-side
//    TLS; mTLS adds only to the handshake, once per connection.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startProcess } from "./peers.mjs";
import { h2load } from "./tools.mjs";
import { cpuSeconds, run, summarize, tail } from "./util.mjs";

const LOAD_CLIENT = fileURLToPath(new URL("./load-client.mjs", import.meta.url));
const BASE = { TRELLIS_METRICS: "off", LOG_SUCCESS_SAMPLE: "1", OTEL_SDK_DISABLED: "true" };

export const SECURITY_VARIANTS = [
  { id: "plain", label: "none of them (the same peer, all off)" },
  { id: "tls", label: "+ TLS (TRELLIS_TLS_CERT/KEY; no client certificate)", tls: true },
  { id: "auth", label: "+ bearer token: an RS256 JWT verified per call, the user service's rules (TRELLIS_AUTH_JWKS)", token: true },
  { id: "ratelimit", label: "+ rate limit checked per call, in memory, never reached (TRELLIS_RATE_LIMIT)", rateLimit: true },
  { id: "all", label: "TLS + token + rules + rate limit", tls: true, token: true, rateLimit: true },
];

/** Seconds the scenario takes, for the progress estimate. */
export function securityEstimate(settings) {
  const part1 = 4 * (settings.warmup + settings.duration + 1) + 10;
  const part2 = settings.reps * SECURITY_VARIANTS.length * (settings.warmup + 2 * settings.duration + 1.5) + 5;
  return part1 + part2;
}

function startGuarded(peersDir, port, core, env, name) {
  return startProcess({
    command: process.execPath,
    args: [join(peersDir, "trellis-guarded.mjs")],
    port,
    core,
    name,
    env: { ...BASE, BENCH_LOG_NAME: name, ...env },
  });
}

/** One load-client run on the load core; resolves with its JSON line. */
async function load({ port, call, mode, rate, concurrency, settings, deadlineMs = 1000 }) {
  const args = [
    "-c",
    String(settings.clientCore),
    process.execPath,
    LOAD_CLIENT,
    "--target",
    `127.0.0.1:${port}`,
    "--path",
    call.path,
    "--data",
    Buffer.from(call.request).toString("base64"),
    "--mode",
    mode,
    "--rate",
    String(Math.round(rate ?? 0)),
    "--concurrency",
    String(concurrency ?? 64),
    "--duration",
    String(settings.duration),
    "--warmup",
    String(settings.warmup),
    "--deadline-ms",
    String(deadlineMs),
  ];
  const r = await run("taskset", args, { timeoutMs: (settings.duration + settings.warmup + 60) * 1000 });
  const line = r.stdout.trim().split("\n").pop();
  if (r.code !== 0 || !line?.startsWith("{")) throw new Error(`load client failed (exit ${r.code}): ${tail(r.stderr + r.stdout)}`);
  return JSON.parse(line);
}

/** Runs both parts; `calls` are run.mjs' unary call descriptions. */
export async function runSecurity({ peersDir, freePort, settings, calls, progress, checkCall }) {
  // Loaded here, not at the top: run.mjs imports this module before it builds the kit.
  const { createTestIssuer, createTestPki, createTempDir } = await import("@trellis/kit/testing");
  const started = [];
  const dir = createTempDir("trellis-bench-security-");
  try {
    // ---- 1. saturation
    const list = calls["large-unary"];
    progress("saturation: starting the peer with shedding off");
    const off = await startGuarded(peersDir, await freePort(), settings.serverCore, { TRELLIS_SHED: "off" }, "guarded-shed-off");
    started.push(off);
    await checkCall(off.port, list);
    // A cold process (JIT) would understate the capacity: warm it first, not counted.
    const warm = { ...settings, duration: Math.max(1, settings.warmup), warmup: 0 };
    progress("saturation: warming up, closed loop");
    await load({ port: off.port, call: list, mode: "closed", concurrency: 64, settings: warm });
    progress("saturation: capacity, closed loop, 64 in flight");
    const capacity = await load({ port: off.port, call: list, mode: "closed", concurrency: 64, settings });
    const cap = capacity.goodput;
    if (!(cap > 0)) throw new Error("the peer served no call while its capacity was measured");
    progress(`saturation: capacity ${Math.round(cap)} calls/s; half load, open loop`);
    const half = await load({ port: off.port, call: list, mode: "open", rate: cap / 2, settings });
    progress("saturation: twice the capacity, shedding off");
    const overOff = await load({ port: off.port, call: list, mode: "open", rate: cap * 2, settings });
    await off.stop();
    started.pop();
    progress("saturation: twice the capacity, shedding on");
    const on = await startGuarded(peersDir, await freePort(), settings.serverCore, { TRELLIS_SHED: "on" }, "guarded-shed-on");
    started.push(on);
    await checkCall(on.port, list);
    await load({ port: on.port, call: list, mode: "closed", concurrency: 64, settings: warm });
    const overOn = await load({ port: on.port, call: list, mode: "open", rate: cap * 2, settings });
    await on.stop();
    started.pop();
    const saturation = { capacity, half, overOff, overOn };

    // ---- 2. cost on tiny unary calls
    const tiny = calls["tiny-unary"];
    // The framed request in a folder of this scenario's own (another bench run may clear results/tmp).
    const dataFile = join(dir.path, "get-user.grpc-request.bin");
    const frame = Buffer.alloc(5 + tiny.request.length);
    frame.writeUInt32BE(tiny.request.length, 1);
    frame.set(tiny.request, 5);
    writeFileSync(dataFile, frame);
    const pki = await createTestPki(join(dir.path, "pki"));
    const cert = await pki.issue("user");
    const issuer = await createTestIssuer(join(dir.path, "jwks.json"));
    const token = await issuer.token({
      subject: "00000000-0000-4000-8000-000000000007",
      roles: ["member"],
      expiresAt: Date.now() + 24 * 3_600_000,
    });
    const servers = {};
    for (const v of SECURITY_VARIANTS) {
      const env = {};
      if (v.tls) Object.assign(env, { TRELLIS_TLS_CERT: cert.certFile, TRELLIS_TLS_KEY: cert.keyFile });
      if (v.token)
        Object.assign(env, {
          TRELLIS_AUTH_JWKS: join(dir.path, "jwks.json"),
          TRELLIS_AUTH_ISSUER: issuer.issuer,
          TRELLIS_AUTH_AUDIENCE: issuer.audience,
        });
      if (v.rateLimit) Object.assign(env, { TRELLIS_RATE_LIMIT: "100000000/s" });
      progress(`cost: starting variant ${v.id}`);
      const server = await startGuarded(peersDir, await freePort(), settings.serverCore, env, `guarded-${v.id}`);
      started.push(server);
      servers[v.id] = server;
    }
    const reps = Object.fromEntries(SECURITY_VARIANTS.map((v) => [v.id, []]));
    for (let rep = 1; rep <= settings.reps; rep++) {
      for (const v of SECURITY_VARIANTS) {
        const server = servers[v.id];
        if (!server.alive())
          throw new Error(`variant ${v.id} exited (${server.exitInfo()}${server.stderrTail() ? `: ${server.stderrTail()}` : ""})`);
        const target = {
          url: `${v.tls ? "https" : "http"}://127.0.0.1:${server.port}${tiny.path}`,
          dataFile,
          headers: ["content-type: application/grpc", "te: trailers", ...(v.token ? [`authorization: Bearer ${token}`] : [])],
        };
        progress(`cost: rep ${rep}/${settings.reps} · ${v.id}: throughput, then latency`);
        if (settings.warmup > 0) await h2load(target, { mode: "throughput", duration: settings.warmup, warmup: true });
        const c0 = cpuSeconds(server.pid);
        const t = await h2load(target, { mode: "throughput", duration: settings.duration });
        const c1 = cpuSeconds(server.pid);
        const l = await h2load(target, { mode: "latency", duration: settings.duration, tmpDir: dir.path, tag: `security-${v.id}-${rep}` });
        for (const r of [t, l]) {
          if (r.errors > Math.max(2, r.calls * 0.01)) throw new Error(`${v.id}: ${r.errors} failed calls of ${r.calls + r.errors}`);
        }
        reps[v.id].push({
          callsPerSec: t.callsPerSec,
          cpuUsPerCall: ((c1 - c0) / t.calls) * 1e6,
          p50: l.p50,
          p90: l.p90,
          p99: l.p99,
          p999: l.p999,
        });
      }
    }
    const variants = {};
    for (const v of SECURITY_VARIANTS) variants[v.id] = { label: v.label, reps: reps[v.id], ...summarize(reps[v.id]) };
    return { status: "ok", saturation, variants };
  } finally {
    for (const p of started.reverse()) await p.stop();
    dir.remove();
  }
}

const fmtInt = (n) => (typeof n === "number" ? Math.round(n).toLocaleString("en-US") : "–");
const fmtUs = (us) => (typeof us !== "number" ? "–" : us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`);
const pct = (x) => (typeof x === "number" ? `${Math.round(x * 100)} %` : "–");

/** The report section, every verdict computed from the numbers. */
export function securitySection(sr, settings) {
  const L = ["## security", ""];
  if (sr.status !== "ok") return [...L, `Not measured: ${sr.reason ?? sr.status}`, ""].join("\n");
  const { capacity, half, overOff, overOn } = sr.saturation;
  const cap = capacity.goodput;
  L.push("### saturation: offered load at twice the capacity, shedding off and on");
  L.push("");
  L.push(
    `ListUsers page_size=100 on the Trellis user peer (bench/peers/trellis-guarded.mjs, core ${settings.serverCore}); load from bench/lib/load-client.mjs on core ${settings.clientCore}: ` +
      `capacity closed-loop with 64 calls in flight, then open-loop offered load (calls started at a fixed rate, each with a 1 s deadline), ${settings.warmup} s warm-up and ${settings.duration} s measured per run. ` +
      `Goodput: OK calls per second; p99 of the OK calls.`,
  );
  L.push("");
  L.push("| run | offered calls/s | goodput calls/s | goodput / capacity | shed (UNAVAILABLE) | deadline exceeded | p50 OK | p99 OK |");
  L.push("|---|---|---|---|---|---|---|---|");
  const row = (name, r) =>
    L.push(
      `| ${name} | ${r.rate === null ? "closed loop" : fmtInt(r.rate)} | ${fmtInt(r.goodput)} | ${pct(r.goodput / cap)} | ${fmtInt(r.shed)} | ${fmtInt(r.deadline)} | ${fmtUs(r.p50)} | ${fmtUs(r.p99)} |`,
    );
  row("capacity", capacity);
  row("half load", half);
  row("2× load, shedding off", overOff);
  row("2× load, shedding on", overOn);
  L.push("");
  const g = overOn.goodput / cap;
  const p = overOn.p99 / half.p99;
  L.push(
    `Target with shedding: goodput ≥ 90 % of capacity and p99 of admitted calls ≤ 3× the half-load p99. Measured ${pct(g)} and ${Number.isFinite(p) ? p.toFixed(2) : "–"}×: **${g >= 0.9 && p <= 3 ? "met" : "not met"}**.`,
  );
  L.push("");
  L.push("### cost of TLS, authentication and rate limiting on tiny unary calls");
  L.push("");
  L.push(
    `GetUser on the same peer, one variant per process, side by side on core ${settings.serverCore}, measured in turn within each of ${settings.reps} repetition(s): ` +
      `throughput at ${settings.inFlight} in flight (h2load \`-c 1 -m ${settings.inFlight}\`, over TLS where the variant has it), latency one call at a time (\`-m 1\`), CPU per call from /proc during the throughput run. ` +
      `h2load presents no client certificate, so TLS is server-side TLS (mTLS costs the same per call; its extra work is in the handshake).`,
  );
  L.push("");
  L.push("| variant | calls/s | vs none | p50 | p99 | CPU per call | Δ CPU vs none |");
  L.push("|---|---|---|---|---|---|---|");
  const plain = sr.variants.plain.median;
  for (const v of SECURITY_VARIANTS) {
    const x = sr.variants[v.id];
    const m = x.median;
    const delta = m.cpuUsPerCall - plain.cpuUsPerCall;
    L.push(
      `| ${v.id}: ${v.label} | ${fmtInt(m.callsPerSec)} (${fmtInt(x.min.callsPerSec)}–${fmtInt(x.max.callsPerSec)}) | ${(m.callsPerSec / plain.callsPerSec).toFixed(2)}× | ${fmtUs(m.p50)} | ${fmtUs(m.p99)} | ${m.cpuUsPerCall.toFixed(1)} µs | ${v.id === "plain" ? "" : `${delta >= 0 ? "+" : "−"}${Math.abs(delta).toFixed(1)} µs`} |`,
    );
  }
  L.push("");
  return L.join("\n");
}
