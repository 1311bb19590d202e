// Load generators, each run pinned to core 1 (`taskset -c 1`), and the parsers of their output.
//   h2load (nghttp2-client): gRPC/REST throughput at 100 in flight, and one-at-a-time latency
//     from its per-request --log-file (microsecond resolution, same client for gRPC and REST).
//   ghz: gRPC latency percentiles as seen by a Go gRPC client (per-call details).
//   autocannon: REST throughput and bytes with pipelining 1 (its latency histogram has 1 ms
//     resolution, so its percentiles are kept only as a cross-check).
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { run, tail, percentile } from "./util.mjs";

const CLIENT_CORE = "1";

/** Parses h2load's summary. */
export function parseH2load(text) {
  const fin = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/.exec(text);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const traffic = /traffic: \S+ \((\d+)\) total, \S+ \((\d+)\) headers.*?, \S+ \((\d+)\) data/.exec(text);
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  const tfr = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(text);
  if (!fin || !req || !traffic) return null;
  const toUs = (s) => {
    const m = /([\d.]+)(us|ms|s)/.exec(s);
    if (!m) return null;
    return Number(m[1]) * (m[2] === "us" ? 1 : m[2] === "ms" ? 1e3 : 1e6);
  };
  const seconds = Number(fin[1]) / (fin[2] === "ms" ? 1000 : 1);
  return {
    seconds,
    reqPerSec: Number(fin[3]),
    done: Number(req[3]),
    succeeded: Number(req[4]),
    failed: Number(req[5]),
    errored: Number(req[6]),
    timeout: Number(req[7]),
    non2xx: status ? Number(status[2]) + Number(status[3]) + Number(status[4]) : 0,
    bytesTotal: Number(traffic[1]),
    bytesHeaders: Number(traffic[2]),
    bytesData: Number(traffic[3]),
    meanUs: tfr ? toUs(tfr[3]) : null,
  };
}

/**
 * One h2load run. target: { url, h1?, dataFile?, headers? }.
 * mode "throughput": -c 1 -m 100 (gRPC, one HTTP/2 connection) or --h1 -c 100 (REST).
 * mode "latency": one call at a time, per-request log → percentiles.
 */
export async function h2load(target, opts) {
  try {
    return await h2loadOnce(target, opts);
  } catch (e) {
    // h2load -D counts only calls completed inside the window: a server stalled for the whole
    // window (cold JIT, a neighbour on the core) yields 0. Try once more with a longer window.
    if (!e.noCalls) throw e;
    return h2loadOnce(target, { ...opts, duration: opts.duration * 3 });
  }
}

async function h2loadOnce(target, { mode, duration, tmpDir, tag, warmup = false }) {
  const args = [];
  if (target.h1) args.push("--h1");
  if (mode === "throughput") {
    if (target.h1) args.push("-c", "100", "-m", "1");
    else args.push("-c", "1", "-m", "100");
  } else {
    args.push("-c", "1", "-m", "1");
  }
  // h2load -D takes whole seconds or a unit ("500ms").
  args.push("-D", `${Math.max(1, Math.round(duration * 1000))}ms`);
  if (target.dataFile) args.push("-d", target.dataFile);
  for (const h of target.headers ?? []) args.push("-H", h);
  const logFile = mode === "latency" ? join(tmpDir, `h2load-${tag}.log`) : null;
  if (logFile) args.push("--log-file", logFile);
  args.push(target.url);
  const r = await run("taskset", ["-c", CLIENT_CORE, "h2load", ...args], { timeoutMs: (duration + 60) * 1000 });
  const p = parseH2load(r.stdout);
  if (r.code !== 0 || !p) {
    throw new Error(`h2load failed (exit ${r.code}): ${tail(r.stderr + r.stdout)}`);
  }
  // A warm-up run may end before a slow, cold server answers anything: that is fine.
  if (p.done === 0 && warmup) return { calls: 0, errors: 0 };
  if (p.done === 0) {
    throw Object.assign(new Error(`h2load: no call completed within ${duration} s (${p.failed} failed, ${p.errored} errored)`), {
      noCalls: true,
    });
  }
  const errors = p.failed + p.errored + p.timeout + p.non2xx;
  const res = {
    calls: p.done,
    callsPerSec: p.done / p.seconds,
    bytesPerCall: p.bytesTotal / p.done,
    headerBytesPerCall: p.bytesHeaders / p.done,
    dataBytesPerCall: p.bytesData / p.done,
    meanUs: p.meanUs,
    errors,
    seconds: p.seconds,
  };
  if (logFile) {
    let lat = [];
    try {
      lat = readFileSync(logFile, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t"))
        .filter((c) => c[1] && c[1].startsWith("2"))
        .map((c) => Number(c[2]))
        .sort((a, b) => a - b);
    } finally {
      rmSync(logFile, { force: true });
    }
    Object.assign(res, latencyStats(lat));
  }
  return res;
}

/** p50/p90/p99/p99.9 and mean (µs) of an ascending list of µs values. */
export function latencyStats(sortedUs) {
  if (sortedUs.length === 0) return {};
  let sum = 0;
  for (const v of sortedUs) sum += v;
  return {
    p50: percentile(sortedUs, 50),
    p90: percentile(sortedUs, 90),
    p99: percentile(sortedUs, 99),
    p999: percentile(sortedUs, 99.9),
    meanUs: sum / sortedUs.length,
    samples: sortedUs.length,
  };
}

/**
 * One ghz run, one call at a time (-c 1 --rps 0) for `duration` seconds; percentiles from the
 * per-call details. call: { proto, importPaths, method, data }.
 */
export async function ghz(call, url, { duration, concurrency = 1 }) {
  const args = [
    "--insecure",
    "--proto",
    call.proto,
    "--import-paths",
    call.importPaths.join(","),
    "--call",
    call.method,
    "-d",
    JSON.stringify(call.data),
    "-c",
    String(concurrency),
    "--rps",
    "0",
    "-z",
    `${Math.max(0.1, duration)}s`,
    "--format",
    "json",
    url,
  ];
  const r = await run("taskset", ["-c", CLIENT_CORE, "ghz", ...args], { timeoutMs: (duration + 60) * 1000 });
  let j;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`ghz failed (exit ${r.code}): ${tail(r.stderr + r.stdout)}`);
  }
  const ok = (j.details ?? []).filter((d) => d.status === "OK");
  // With -z, ghz cancels the call in flight when time is up: that one is not an error.
  const errors = (j.details ?? []).filter(
    (d) => d.status !== "OK" && !(d.status === "Canceled" && /connection is closing|context canceled/.test(d.error)),
  );
  if (ok.length === 0) {
    throw new Error(
      `ghz: no successful call (${JSON.stringify(j.statusCodeDistribution ?? {})}: ${tail(JSON.stringify(j.errorDistribution ?? {}))})`,
    );
  }
  const lat = ok.map((d) => d.latency / 1000).sort((a, b) => a - b);
  return {
    calls: ok.length,
    callsPerSec: j.rps,
    errors: errors.length,
    errorSample: errors[0] ? `${errors[0].status}: ${errors[0].error}` : undefined,
    ...latencyStats(lat),
  };
}

/** One autocannon run (pipelining 1). Returns calls/s, bytes per call and its (1 ms) percentiles. */
export async function autocannon(url, { connections, duration, autocannonBin }) {
  const args = [autocannonBin, "-c", String(connections), "-p", "1", "-d", String(duration), "--json", url];
  const r = await run("taskset", ["-c", CLIENT_CORE, process.execPath, ...args], { timeoutMs: (duration + 60) * 1000 });
  let j;
  try {
    j = JSON.parse(r.stdout.slice(r.stdout.indexOf("{")));
  } catch {
    throw new Error(`autocannon failed (exit ${r.code}): ${tail(r.stderr + r.stdout)}`);
  }
  const calls = j["2xx"] ?? j.requests.total;
  if (!calls) throw new Error(`autocannon: no 2xx response (${j.non2xx} non-2xx, ${j.errors} errors)`);
  const secs = j.duration || duration;
  const ms = (v) => (typeof v === "number" ? v * 1000 : null); // autocannon reports ms
  return {
    calls,
    callsPerSec: calls / secs,
    bytesPerCall: j.throughput.total / j.requests.total,
    errors: (j.errors ?? 0) + (j.timeouts ?? 0) + (j.non2xx ?? 0),
    p50: ms(j.latency.p50),
    p90: ms(j.latency.p90),
    p99: ms(j.latency.p99),
    p999: ms(j.latency.p99_9),
    meanUs: ms(j.latency.mean),
    seconds: secs,
  };
}
