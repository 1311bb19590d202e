// Writes report.md and the SVG charts from a results object (the same one as latest.json).
// Every sentence about the seed's claims is computed from the numbers here.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { securitySection } from "./security.mjs";
import { observabilitySection } from "./observability.mjs";
import { edgeSection } from "./edge.mjs";

const fmtInt = (n) => (typeof n === "number" ? Math.round(n).toLocaleString("en-US") : "–");
const fmtUs = (us) => {
  if (typeof us !== "number") return "–";
  if (us >= 10_000) return `${(us / 1000).toFixed(1)} ms`;
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  return `${Math.round(us)} µs`;
};
const fmtB = (b) => (typeof b === "number" ? (b >= 10_000 ? `${(b / 1024).toFixed(1)} KiB` : `${Math.round(b)} B`) : "–");
const fmtMiB = (b) => (typeof b === "number" ? `${(b / 1048576).toFixed(0)} MiB` : "–");
const fmtCpu = (s) => (typeof s === "number" ? `${(s * 1000).toFixed(1)} ms` : "–");
const pct = (r) => `${r >= 1 ? "+" : "−"}${Math.abs((r - 1) * 100).toFixed(0)} %`;
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** "median (min–max)" when there is more than one repetition. */
function cell(sr, key, f) {
  const m = sr.median?.[key];
  if (typeof m !== "number") return "–";
  if (sr.reps.length > 1 && sr.min[key] !== sr.max[key]) return `${f(m)} (${f(sr.min[key])}–${f(sr.max[key])})`;
  return f(m);
}

function barChart({ title, unit, rows, file, fmt }) {
  // rows: [{ label, value, min, max, note }]
  const W = 760;
  const rowH = 26;
  const left = 190;
  const right = 150;
  const top = 40;
  const H = top + rows.length * rowH + 30;
  const maxV = Math.max(1e-9, ...rows.map((r) => r.max ?? r.value ?? 0));
  const x = (v) => left + ((W - left - right) * v) / maxV;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${W - 10}" y="22" text-anchor="end" fill="#555">${esc(unit)}</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 8}" y="${y + 16}" text-anchor="end">${esc(r.label)}</text>`);
    if (typeof r.value !== "number") {
      parts.push(`<text x="${left + 4}" y="${y + 16}" fill="#888">${esc(r.note ?? "–")}</text>`);
      return;
    }
    parts.push(
      `<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(r.value) - left)}" height="${rowH - 10}" fill="${r.color ?? "#4a78b5"}"/>`,
    );
    if (typeof r.min === "number" && typeof r.max === "number" && r.max > r.min) {
      const cy = y + rowH / 2 - 1;
      parts.push(`<line x1="${x(r.min)}" x2="${x(r.max)}" y1="${cy}" y2="${cy}" stroke="#222"/>`);
      parts.push(`<line x1="${x(r.min)}" x2="${x(r.min)}" y1="${cy - 5}" y2="${cy + 5}" stroke="#222"/>`);
      parts.push(`<line x1="${x(r.max)}" x2="${x(r.max)}" y1="${cy - 5}" y2="${cy + 5}" stroke="#222"/>`);
    }
    parts.push(`<text x="${x(Math.max(r.value, r.max ?? 0)) + 6}" y="${y + 16}">${esc(fmt(r.value))}</text>`);
  });
  parts.push(`<text x="10" y="${H - 8}" fill="#777" font-size="10">bar = median of repetitions; whisker = min–max</text>`);
  parts.push("</svg>");
  writeFileSync(file, parts.join("\n") + "\n");
}

/** The claims check for one scenario: every gRPC peer against the REST peer. */
function claims(res, sid, peerIds) {
  const rest = res.peers["fastify-rest"]?.scenarios?.[sid];
  if (!rest || rest.status !== "ok") return null;
  const rm = rest.median;
  const lines = [];
  lines.push(
    `REST (fastify-rest): p50 ${fmtUs(rm.p50)} one at a time, ${fmtB(rm.bytesPerCall)} on the wire per call (h2load --h1 counts ${fmtB(rm.h2BytesPerCall)}: ${fmtB(rm.headerBytesPerCall)} headers + ${fmtB(rm.dataBytesPerCall)} body), server CPU ${fmtCpu(rm.cpuPer1k)} per 1k calls.`,
  );
  lines.push("");
  lines.push("| gRPC peer | p50 vs REST | bytes/call vs REST | CPU/call vs REST | −40 % latency | −60 % bandwidth |");
  lines.push("|---|---|---|---|---|---|");
  const verdicts = [];
  for (const id of peerIds) {
    const p = res.peers[id];
    if (!p || p.kind !== "grpc") continue;
    const s = p.scenarios?.[sid];
    if (!s || s.status !== "ok") continue;
    const m = s.median;
    const restBytes = rm.h2BytesPerCall ?? rm.bytesPerCall; // same counter (h2load) on both sides
    const lat = m.p50 / rm.p50;
    const bw = m.bytesPerCall / restBytes;
    const cpu = m.cpuPer1k / rm.cpuPer1k;
    const latOk = lat <= 0.6;
    const bwOk = bw <= 0.4;
    verdicts.push({ id, lat, bw, cpu, latOk, bwOk, m });
    lines.push(
      `| ${id} | ${fmtUs(m.p50)} vs ${fmtUs(rm.p50)} (${pct(lat)}) | ${fmtB(m.bytesPerCall)} vs ${fmtB(restBytes)} (${pct(bw)}) | ${Number.isFinite(cpu) ? pct(cpu) : "–"} | ${latOk ? "holds" : "does not hold"} | ${bwOk ? "holds" : "does not hold"} |`,
    );
  }
  if (verdicts.length === 0) return null;
  lines.push("");
  const latHolds = verdicts.filter((v) => v.latOk).map((v) => v.id);
  const bwHolds = verdicts.filter((v) => v.bwOk).map((v) => v.id);
  lines.push(
    `- Latency −40 %: holds for ${latHolds.length ? latHolds.join(", ") : "no gRPC peer"}` +
      `${
        latHolds.length < verdicts.length
          ? `; not for ${verdicts
              .filter((v) => !v.latOk)
              .map((v) => v.id)
              .join(", ")}`
          : ""
      }.`,
  );
  // Why: one call at a time on loopback, latency is mostly server work per call.
  const slower = verdicts.filter((v) => !v.latOk);
  if (slower.length) {
    const cpuWorse = slower.filter((v) => v.cpu >= 0.8);
    lines.push(
      `  Why: one call at a time over loopback the network costs almost nothing, so latency is roughly the server's (and client's) CPU work per call. ` +
        (cpuWorse.length
          ? `${cpuWorse.map((v) => `${v.id} spends ${fmtCpu(v.m.cpuPer1k)}`).join(", ")} of server CPU per 1k calls against REST's ${fmtCpu(rm.cpuPer1k)}, so fewer bytes do not buy lower latency here.`
          : `the gRPC peers' CPU per call is lower, but not enough to cut latency by 40 %.`),
    );
  }
  lines.push(
    `- Bandwidth −60 %: holds for ${bwHolds.length ? bwHolds.join(", ") : "no gRPC peer"}` +
      `${
        bwHolds.length < verdicts.length
          ? `; not for ${verdicts
              .filter((v) => !v.bwOk)
              .map((v) => v.id)
              .join(", ")}`
          : ""
      }.`,
  );
  const v0 = verdicts[0];
  if (typeof v0.m.headerBytesPerCall === "number" && typeof rm.headerBytesPerCall === "number") {
    lines.push(
      `  Why: per call, ${v0.id} receives ${fmtB(v0.m.headerBytesPerCall)} of headers (HPACK-compressed on one HTTP/2 connection) and ${fmtB(v0.m.dataBytesPerCall)} of framed protobuf, ` +
        `against REST's ${fmtB(rm.headerBytesPerCall)} of plain-text HTTP/1.1 headers and ${fmtB(rm.dataBytesPerCall)} of JSON` +
        `${v0.m.dataBytesPerCall / rm.dataBytesPerCall > 0.6 ? " — the body dominates and protobuf saves less on it than the headers do" : ""}.`,
    );
  }
  return lines.join("\n");
}

const BARE = ["grpc-js-proto-loader", "grpc-js-protobuf-es"];

/**
 * The issue's overhead target (Trellis with all defaults ≥ 0.90× bare grpc-js throughput
 * on tiny unary calls, p99 ≤ 1.1×), checked from the numbers, and the CPU profile step's
 * breakdown of each call's CPU time by layer of the stack.
 */
function overheadSection(res) {
  const L = [];
  const tiny = (id) => (res.peers[id]?.scenarios?.["tiny-unary"]?.status === "ok" ? res.peers[id].scenarios["tiny-unary"].median : null);
  const t = tiny("trellis");
  const bares = BARE.filter((id) => tiny(id));
  const prof = res.profile;
  if (!(t && bares.length) && !prof) return null;
  L.push("## Trellis' overhead against bare grpc-js (tiny unary)");
  L.push("");
  if (t && bares.length) {
    L.push(
      "Target: Trellis with all defaults (access line per call, recover, validation, deadline cap, call tracking) ≥ 0.90× the bare grpc-js throughput and ≤ 1.1× its p99.",
    );
    L.push("");
    L.push("| against | throughput ratio | p99 ratio | target |");
    L.push("|---|---|---|---|");
    for (const id of bares) {
      const b = tiny(id);
      const tr = t.callsPerSec / b.callsPerSec;
      const pr = t.p99 / b.p99;
      L.push(
        `| ${id} | ${tr.toFixed(2)}× (${fmtInt(t.callsPerSec)} vs ${fmtInt(b.callsPerSec)}) | ${pr.toFixed(2)}× (${fmtUs(t.p99)} vs ${fmtUs(b.p99)}) | ${tr >= 0.9 && pr <= 1.1 ? "met" : "not met"} |`,
      );
    }
    L.push("");
  }
  if (prof) {
    const ids = Object.keys(prof.peers).filter((id) => !prof.peers[id].error);
    if (ids.length) {
      L.push(`### Where the microseconds go`);
      L.push("");
      L.push(
        `V8's CPU profiler (100 µs sampling, started after a warm-up) on ${fmtInt(prof.calls)} tiny unary calls per peer (h2load \`-c 1 -m 100\`, server on core ${res.settings.serverCore}); ` +
          `each sample is charged to the innermost frame's layer. Times are µs of CPU per call on the profiler's clock; the profiler itself slows the server ` +
          `(CPU per call with it on, from /proc: ${ids.map((id) => `${id} ${fmtNum(prof.peers[id].cpuUsPerCall)} µs`).join(", ")}), so read the columns side by side, not against the tables above.`,
      );
      L.push("");
      const base = ids.find((id) => id !== "trellis");
      L.push(`| layer | ${ids.join(" | ")}${ids.includes("trellis") && base ? ` | trellis − ${base}` : ""} |`);
      L.push(`|---|${ids.map(() => "---:").join("|")}${ids.includes("trellis") && base ? "|---:" : ""}|`);
      const layerIds = prof.peers[ids[0]].layers.map((l) => l.id);
      const rows = [...layerIds, "total"];
      for (const lid of rows) {
        const val = (id) =>
          lid === "total" ? prof.peers[id].busyUsPerCall : (prof.peers[id].layers.find((l) => l.id === lid)?.usPerCall ?? 0);
        if (lid !== "total" && ids.every((id) => val(id) < 0.05)) continue;
        const label = lid === "total" ? "**total busy**" : prof.peers[ids[0]].layers.find((l) => l.id === lid).label;
        const diff = ids.includes("trellis") && base ? ` | ${signed(val("trellis") - val(base))}` : "";
        L.push(`| ${label} | ${ids.map((id) => fmtNum(val(id))).join(" | ")}${diff} |`);
      }
      L.push("");
      const tp = prof.peers.trellis;
      if (tp && !tp.error) {
        L.push("Trellis' heaviest functions in its own layers and in logging (self time, µs per call):");
        L.push("");
        for (const lid of ["kit-server", "kit-interceptors", "kit-codec", "kit-other", "service", "logging"]) {
          const top = tp.top[lid];
          if (!top?.length) continue;
          const label = tp.layers.find((l) => l.id === lid).label;
          L.push(`- ${label}: ${top.map((f) => `\`${esc(f.name)}\` ${fmtNum(f.usPerCall)}`).join(", ")}`);
        }
        L.push("");
      }
      L.push(ids.map((id) => `![${id} flame graph](${prof.peers[id].flame})`).join("\n\n"));
      L.push("");
    }
    for (const [id, p] of Object.entries(prof.peers)) if (p.error) L.push(`- ${id}: profile failed: ${esc(p.error)}`);
  }
  return L.join("\n");
}

function fmtNum(x) {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(x >= 10 ? 1 : 2) : "–";
}

function signed(x) {
  return `${x >= 0 ? "+" : "−"}${fmtNum(Math.abs(x))}`;
}

export function writeReport(res, outDir, { scenarios, peers }) {
  const files = [];
  const peerIds = peers.map((p) => p.id).filter((id) => res.peers[id]);
  const L = [];
  const s = res.settings;
  const m = res.machine;
  const v = res.versions;
  L.push(`# Trellis benchmark report${s.mode === "smoke" ? " (SMOKE RUN — numbers are not meaningful)" : ""}`);
  L.push("");
  L.push(`Run ${res.startedAt} → ${res.finishedAt} (${Math.round(res.elapsedSeconds)} s). Raw results: \`latest.json\`.`);
  L.push("");
  L.push("## Machine, versions, settings");
  L.push("");
  L.push(
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, ${m.kernel} (${m.arch})${m.governor ? `, governor ${m.governor}` : ""}; load average at start ${m.loadAverage.map((x) => x.toFixed(2)).join(" ")}.`,
  );
  L.push(
    `- Versions: ${Object.entries(v)
      .map(([k, x]) => `${k} ${x ?? "n/a"}`)
      .join(", ")}.`,
  );
  L.push(
    `- Settings: server pinned to core ${s.serverCore} (\`taskset -c ${s.serverCore}\`), load generator to core ${s.clientCore}; ` +
      `${s.warmup} s warm-up (excluded), ${s.duration} s measured per run, ${s.reps} repetition(s): tables show the median and (min–max). ` +
      `Throughput at ${s.inFlight} calls in flight (gRPC: h2load \`-c 1 -m ${s.inFlight}\`; REST: autocannon \`-c ${s.inFlight} -p 1\`), latency one call at a time (h2load \`-c 1 -m 1\` per-request log, same client for gRPC and REST).`,
  );
  L.push("");
  L.push("## Peers");
  L.push("");
  L.push("| peer | stack | status | peak RSS |");
  L.push("|---|---|---|---|");
  for (const id of peerIds) {
    const p = res.peers[id];
    L.push(`| ${id} | ${p.label} | ${p.status === "ok" ? "ran" : esc(p.reason)} | ${fmtMiB(p.peakRssBytes)} |`);
  }
  L.push("");
  for (const sc of scenarios) {
    if (!s.scenarios.includes(sc.id)) continue;
    if (sc.id === "security") {
      const sr = res.peers.trellis?.scenarios?.security;
      if (sr) L.push(securitySection(sr, s));
      continue;
    }
    if (sc.id === "observability") {
      const sr = res.peers.trellis?.scenarios?.observability;
      if (sr) L.push(observabilitySection(sr, s));
      continue;
    }
    if (sc.id === "edge") {
      const sr = res.peers.trellis?.scenarios?.edge;
      if (sr) L.push(edgeSection(sr, s));
      continue;
    }
    const streaming = sc.id === "server-streaming";
    const pingpong = sc.id === "bidi-ping-pong";
    L.push(`## ${sc.id}`);
    L.push("");
    L.push(sc.label + ".");
    L.push("");
    if (streaming) {
      L.push(
        "calls/s = messages per second (one stream after another, @grpc/grpc-js client on core 1); latency = time for a whole stream; bytes = framed message bytes per message.",
      );
    } else if (pingpong) {
      L.push("calls/s = round trips per second on one stream; latency = one post until its own echo.");
    } else {
      L.push(
        "calls/s at 100 in flight; latency one at a time; bytes = everything received per call incl. headers and framing (h2load/autocannon counters); CPU = server user+system CPU per 1,000 calls in the throughput run; ghz/autocannon column = the same latency seen by the tool named in the issue.",
      );
    }
    L.push("");
    L.push("| peer | calls/s | p50 | p90 | p99 | p99.9 | bytes/call | CPU per 1k calls | peak RSS | tool check |");
    L.push("|---|---|---|---|---|---|---|---|---|---|");
    const chartRows = [];
    const latRows = [];
    for (const id of peerIds) {
      const p = res.peers[id];
      const sr = p.scenarios?.[sc.id];
      if (!sr) continue;
      if (sr.status !== "ok") {
        L.push(`| ${id} | ${esc(sr.reason ?? sr.status)} | | | | | | | | |`);
        chartRows.push({ label: id, note: sr.reason ?? sr.status });
        latRows.push({ label: id, note: sr.reason ?? sr.status });
        continue;
      }
      const md = sr.median;
      let tool = "–";
      if (typeof md.toolP50 === "number") {
        tool =
          p.kind === "grpc"
            ? `ghz p50 ${fmtUs(md.toolP50)}, p99 ${fmtUs(md.toolP99)}`
            : `autocannon -c 1 p50 ${fmtUs(md.toolP50)} (1 ms res.); h2load --h1 -c 100: ${fmtInt(md.h2CallsPerSec)}/s`;
      }
      if (streaming && typeof md.messagesPerStream === "number")
        tool = `${md.messagesPerStream} msgs/stream, ${md.streamsPerSec.toFixed(1)} streams/s`;
      L.push(
        `| ${id} | ${cell(sr, "callsPerSec", fmtInt)} | ${cell(sr, "p50", fmtUs)} | ${cell(sr, "p90", fmtUs)} | ${cell(sr, "p99", fmtUs)} | ${cell(sr, "p999", fmtUs)} | ${cell(sr, "bytesPerCall", fmtB)} | ${cell(sr, "cpuPer1k", fmtCpu)} | ${fmtMiB(sr.peakRssBytes)} | ${tool} |`,
      );
      chartRows.push({
        label: id,
        value: md.callsPerSec,
        min: sr.min.callsPerSec,
        max: sr.max.callsPerSec,
        color: p.kind === "rest" ? "#c2703d" : "#4a78b5",
      });
      latRows.push({ label: id, value: md.p50, min: sr.min.p50, max: sr.max.p50, color: p.kind === "rest" ? "#c2703d" : "#4a78b5" });
    }
    L.push("");
    if (chartRows.some((r) => typeof r.value === "number")) {
      const f1 = join(outDir, `${sc.id}-throughput.svg`);
      barChart({
        title: `${sc.id}: ${streaming ? "messages" : "calls"} per second`,
        unit: "higher is better",
        rows: chartRows,
        file: f1,
        fmt: fmtInt,
      });
      const f2 = join(outDir, `${sc.id}-latency.svg`);
      barChart({
        title: `${sc.id}: p50 latency${streaming ? " per stream" : ", one at a time"}`,
        unit: "lower is better",
        rows: latRows,
        file: f2,
        fmt: fmtUs,
      });
      files.push(f1, f2);
      L.push(`![${sc.id} throughput](${sc.id}-throughput.svg) ![${sc.id} latency](${sc.id}-latency.svg)`);
      L.push("");
    }
    if (!streaming && !pingpong && sc.id !== "service-to-service") {
      const c = claims(res, sc.id, peerIds);
      L.push("### The seed's claim: gRPC −40 % latency, −60 % bandwidth against REST");
      L.push("");
      L.push(c ?? "Not checked: the REST peer (fastify-rest) or every gRPC peer has no result for this scenario.");
      L.push("");
    }
  }
  const overhead = overheadSection(res);
  if (overhead) {
    L.push(overhead);
    L.push("");
  }
  if (res.problems?.length) {
    L.push("## Problems");
    L.push("");
    for (const p of res.problems) L.push(`- ${esc(p)}`);
    L.push("");
  }
  const f = join(outDir, "report.md");
  writeFileSync(f, L.join("\n"));
  files.unshift(f);
  return files;
}
