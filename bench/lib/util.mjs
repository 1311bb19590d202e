// Small helpers shared by the bench harness: child processes, /proc readings, statistics,
// and the progress display.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout, clearTimeout } from "node:timers";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs a command to completion and captures its output.
 * Resolves { code, signal, stdout, stderr, ms }; never rejects on a non-zero exit
 * (rejects only when the program cannot be spawned at all).
 */
export function run(cmd, args, { timeoutMs = 120_000, cwd, env, input } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    const err = [];
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: timedOut ? 124 : code,
        signal,
        timedOut,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        ms: Number(process.hrtime.bigint() - t0) / 1e6,
      });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** Last `n` non-empty lines of a text, joined with " | " (for one-line failure reasons). */
export function tail(text, n = 3) {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(" | ");
}

const CLK_TCK = 100; // Linux USER_HZ; /proc reports utime/stime in these ticks.

/** CPU seconds (user + system, all threads) the process has used so far, or null. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); utime = field 14, stime = field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Peak resident set size in bytes (VmHWM), or null. */
export function peakRss(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Percentile (nearest-rank) of an ascending-sorted array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values) {
  const v = values.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** { median, min, max } of each numeric key across repetitions. */
export function summarize(reps) {
  const keys = new Set();
  for (const r of reps) for (const [k, v] of Object.entries(r)) if (typeof v === "number") keys.add(k);
  const med = {};
  const min = {};
  const max = {};
  for (const k of keys) {
    const v = reps.map((r) => r[k]).filter((x) => typeof x === "number" && Number.isFinite(x));
    if (v.length === 0) continue;
    med[k] = median(v);
    min[k] = Math.min(...v);
    max[k] = Math.max(...v);
  }
  return { median: med, min, max };
}

export function fmtClock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * Progress display: one line per step on stderr with elapsed time and an ETA.
 * `plan` is the list of estimated step durations (seconds); the ETA scales the remaining
 * estimate by how the finished steps compared with theirs.
 */
export class Progress {
  constructor(totalEstimate, totalSteps) {
    this.t0 = Date.now();
    this.totalEstimate = totalEstimate;
    this.doneEstimate = 0;
    this.totalSteps = totalSteps;
    this.step = 0;
  }
  /** Call at the start of a step with its estimated duration. */
  begin(label, estimate) {
    this.step += 1;
    const elapsed = (Date.now() - this.t0) / 1000;
    const ratio = this.doneEstimate > 0 ? Math.max(0.5, elapsed / this.doneEstimate) : 1;
    const eta = Math.max(0, (this.totalEstimate - this.doneEstimate) * ratio);
    const n = String(this.totalSteps).length;
    process.stderr.write(
      `[${String(this.step).padStart(n)}/${this.totalSteps}] ${fmtClock(elapsed)} elapsed, ETA ${fmtClock(eta)}  ${label}\n`,
    );
    this.doneEstimate += estimate;
  }
  note(text) {
    process.stderr.write(`        ${text}\n`);
  }
  elapsed() {
    return (Date.now() - this.t0) / 1000;
  }
}
