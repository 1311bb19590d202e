// The observability scenario: the Trellis user peer with access logs, metrics and
// tracing switched on one at a time by the variables a service reads (LOG_SUCCESS_SAMPLE,
// TRELLIS_METRICS, OTEL_*), every variant running side by side on the server core and
// measured in turn within each repetition, so a noisy neighbour hits them alike. The
// report compares each variant with "dark" (all three off) and splits the cost by
// component from the CPU per call.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startPeer, startProcess } from "./peers.mjs";
import { h2load } from "./tools.mjs";
import { cpuSeconds, peakRss, summarize } from "./util.mjs";

const OFF = { TRELLIS_METRICS: "off", LOG_SUCCESS_SAMPLE: "0", OTEL_SDK_DISABLED: "true" };
const TRACED = { OTEL_SDK_DISABLED: "false", OTEL_TRACES_SAMPLER: "parentbased_traceidratio" };

/** The variants, each one more thing on than the one before (the last is informational). */
export const OBSERVABILITY_VARIANTS = [
  { id: "dark", label: "all off (LOG_SUCCESS_SAMPLE=0, TRELLIS_METRICS=off, no OTEL_* endpoint)", env: OFF },
  { id: "logs", label: "+ an access line per call (LOG_SUCCESS_SAMPLE=1)", env: { ...OFF, LOG_SUCCESS_SAMPLE: "1" } },
  {
    id: "logs-metrics",
    label: "+ Prometheus metrics (TRELLIS_METRICS=on); tracing off",
    env: { ...OFF, LOG_SUCCESS_SAMPLE: "1", TRELLIS_METRICS: "on" },
  },
  {
    id: "observed",
    label: "+ tracing, 1 % sampled, OTLP export (OTEL_TRACES_SAMPLER_ARG=0.01)",
    env: { LOG_SUCCESS_SAMPLE: "1", TRELLIS_METRICS: "on", ...TRACED, OTEL_TRACES_SAMPLER_ARG: "0.01" },
    traced: true,
  },
  {
    id: "traced-all",
    label: "every call traced and exported (OTEL_TRACES_SAMPLER_ARG=1), for the cost of one span",
    env: { LOG_SUCCESS_SAMPLE: "1", TRELLIS_METRICS: "on", ...TRACED, OTEL_TRACES_SAMPLER_ARG: "1" },
    traced: true,
    informational: true,
  },
];

/** Seconds the scenario takes, for the progress estimate. */
export function observabilityEstimate(settings) {
  return settings.reps * OBSERVABILITY_VARIANTS.length * (settings.warmup + 2 * settings.duration + 1.5) + 5;
}

/**
 * Runs the scenario: starts an OTLP sink (on the load core: it stands for a
 * collector elsewhere) and one Trellis peer per variant (server core), then per
 * repetition a throughput and a one-at-a-time latency run against each.
 */
export async function runObservability({ peersDir, peer, freePort, target, settings, tmpDir, progress, checkCall }) {
  const statsFile = join(tmpDir, "otlp-sink.json");
  const started = [];
  try {
    const sink = await startProcess({
      command: process.execPath,
      args: [join(peersDir, "otlp-sink.mjs"), "--stats", statsFile],
      port: await freePort(),
      core: settings.clientCore,
      name: "otlp-sink",
    });
    started.push(sink);
    const servers = {};
    for (const v of OBSERVABILITY_VARIANTS) {
      const env = { ...v.env, BENCH_LOG_NAME: `trellis-user-${v.id}` };
      if (v.traced) Object.assign(env, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.port}`, OTEL_SERVICE_NAME: `user-${v.id}` });
      progress(`starting variant ${v.id}`);
      const server = await startPeer(peersDir, peer, await freePort(), { env });
      started.push(server);
      servers[v.id] = server;
      await checkCall(server.port);
    }
    const reps = Object.fromEntries(OBSERVABILITY_VARIANTS.map((v) => [v.id, []]));
    for (let rep = 1; rep <= settings.reps; rep++) {
      for (const v of OBSERVABILITY_VARIANTS) {
        const server = servers[v.id];
        if (!server.alive())
          throw new Error(`variant ${v.id} exited (${server.exitInfo()}${server.stderrTail() ? `: ${server.stderrTail()}` : ""})`);
        const url = { ...target, url: `http://127.0.0.1:${server.port}${target.path}` };
        progress(`rep ${rep}/${settings.reps} · ${v.id}: throughput, h2load -c 1 -m ${settings.inFlight}`);
        if (settings.warmup > 0) await h2load(url, { mode: "throughput", duration: settings.warmup, warmup: true });
        const c0 = cpuSeconds(server.pid);
        const t = await h2load(url, { mode: "throughput", duration: settings.duration });
        const c1 = cpuSeconds(server.pid);
        progress(`rep ${rep}/${settings.reps} · ${v.id}: latency one at a time, h2load -c 1 -m 1`);
        const l = await h2load(url, { mode: "latency", duration: settings.duration, tmpDir, tag: `observability-${v.id}-${rep}` });
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
    for (const v of OBSERVABILITY_VARIANTS) {
      variants[v.id] = {
        label: v.label,
        informational: v.informational === true,
        reps: reps[v.id],
        ...summarize(reps[v.id]),
        peakRssBytes: peakRss(servers[v.id].pid),
      };
    }
    return { status: "ok", variants, sink: JSON.parse(readFileSync(statsFile, "utf8")) };
  } finally {
    for (const p of started.reverse()) await p.stop();
  }
}

const fmtInt = (n) => (typeof n === "number" ? Math.round(n).toLocaleString("en-US") : "–");
const fmtUs = (us) => (typeof us !== "number" ? "–" : us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`);
const fmtDelta = (x) => (typeof x === "number" ? `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(1)} µs` : "–");

/** The report section, every verdict computed from the numbers. */
export function observabilitySection(sr, settings) {
  const L = ["## observability", ""];
  if (sr.status !== "ok") return [...L, `Not measured: ${sr.reason ?? sr.status}`, ""].join("\n");
  const v = sr.variants;
  const dark = v.dark.median;
  L.push(
    `The Trellis user peer (tiny unary GetUser) once per variant, all running side by side on core ${settings.serverCore} and measured in turn within each of ${settings.reps} repetition(s). ` +
      `Throughput at ${settings.inFlight} in flight (h2load \`-c 1 -m ${settings.inFlight}\`), latency one call at a time (\`-m 1\`), CPU = the server's user+system CPU per call during the throughput run (/proc). ` +
      `Spans go over OTLP/gRPC to a sink on core ${settings.clientCore} (bench/peers/otlp-sink.mjs) that stands in for a collector; it received ${fmtInt(sr.sink.spans)} spans in ${fmtInt(sr.sink.exports)} exports.`,
  );
  L.push("");
  L.push("| variant | calls/s | vs dark | p50 | p99 | p99 vs dark | CPU per call | Δ CPU vs the row above |");
  L.push("|---|---|---|---|---|---|---|---|");
  let previous;
  for (const v0 of OBSERVABILITY_VARIANTS) {
    const x = v[v0.id];
    const m = x.median;
    const delta = previous ? fmtDelta(m.cpuUsPerCall - previous.cpuUsPerCall) : "";
    L.push(
      `| ${v0.id}: ${v0.label} | ${fmtInt(m.callsPerSec)} (${fmtInt(x.min.callsPerSec)}–${fmtInt(x.max.callsPerSec)}) | ${(m.callsPerSec / dark.callsPerSec).toFixed(2)}× | ${fmtUs(m.p50)} | ${fmtUs(m.p99)} | ${(m.p99 / dark.p99).toFixed(2)}× | ${m.cpuUsPerCall.toFixed(1)} µs | ${delta} |`,
    );
    previous = m;
  }
  L.push("");
  const observed = v.observed.median;
  const tr = observed.callsPerSec / dark.callsPerSec;
  const pr = observed.p99 / dark.p99;
  L.push(
    `Target (metrics + tracing at 1 % + access logs against all off): ≥ 0.90× throughput, ≤ 1.15× p99. Measured ${tr.toFixed(2)}× and ${pr.toFixed(2)}×: **${tr >= 0.9 && pr <= 1.15 ? "met" : "not met"}**.`,
  );
  L.push("");
  const logs = v.logs.median.cpuUsPerCall - dark.cpuUsPerCall;
  const metrics = v["logs-metrics"].median.cpuUsPerCall - v.logs.median.cpuUsPerCall;
  const tracing = observed.cpuUsPerCall - v["logs-metrics"].median.cpuUsPerCall;
  const perSpan = (v["traced-all"].median.cpuUsPerCall - observed.cpuUsPerCall) / 0.99;
  L.push(
    `Where the microseconds go (differences of the median CPU per call): the access line ${fmtDelta(logs)} (the ECS formatter and one coalesced write per event-loop turn); ` +
      `metrics ${fmtDelta(metrics)} (started, received, sent and handled counts and a histogram bucket: plain numbers per method, read by prom-client at scrape time); ` +
      `tracing at 1 % ${fmtDelta(tracing)} per call — a call that begins a trace is sampled or not before any span exists, so 99 in 100 get no span and no context, but the one that is sampled runs its handler in the SDK's AsyncLocalStorage context, which turns on Node 20's async hooks for every promise of the process from then on; ` +
      `a sampled, exported span costs about ${fmtDelta(perSpan)} more (attributes, the batch processor, OTLP encoding). ` +
      `Tracing off loads no SDK and adds no interceptor: the logs-metrics row is that configuration.`,
  );
  L.push("");
  return L.join("\n");
}
