#!/usr/bin/env node
// A gRPC load generator that reads each call's status, for the saturation scenario (h2load
// sees HTTP 200 for every gRPC status, so it cannot tell a shed call from a served one).
//   --mode closed: `--concurrency` calls always in flight (the server's capacity).
//   --mode open:   calls started at `--rate` per second whatever the server does (offered load),
//                  as real clients do; every call has `--deadline-ms`.
// Counts the calls started inside the measured window (after `--warmup`), waits for them to
// settle, and prints one JSON line: started, ok, shed (UNAVAILABLE), deadline, other, goodput
// (OK calls per second of window) and the latency percentiles (µs) of the OK calls.
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { setInterval, clearInterval, setTimeout } from "node:timers";
import * as grpc from "@grpc/grpc-js";

const { values: a } = parseArgs({
  options: {
    target: { type: "string" },
    path: { type: "string" },
    data: { type: "string", default: "" },
    mode: { type: "string", default: "open" },
    rate: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "32" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    "deadline-ms": { type: "string", default: "1000" },
    channels: { type: "string", default: "4" },
  },
});
const body = Buffer.from(a.data, "base64");
const rate = Number(a.rate);
const concurrency = Number(a.concurrency);
const durationMs = Number(a.duration) * 1000;
const warmupMs = Number(a.warmup) * 1000;
const deadlineMs = Number(a["deadline-ms"]);
const identity = (b) => b;
// Channels with distinct options do not share a connection: more than one HTTP/2 connection's streams.
const clients = Array.from(
  { length: Number(a.channels) },
  (_, i) =>
    new grpc.Client(a.target, grpc.credentials.createInsecure(), {
      "grpc-node.bench_channel": i,
      "grpc.max_receive_message_length": 64 << 20,
    }),
);
const t0 = performance.now();
const windowStart = t0 + warmupMs;
const windowEnd = windowStart + durationMs;
const latencies = [];
const counts = { started: 0, ok: 0, shed: 0, deadline: 0, exhausted: 0, other: 0 };
let inFlight = 0;
let next = 0;
let settleAll;
const settled = new Promise((resolve) => (settleAll = resolve));
let stopped = false;

function call() {
  const start = performance.now();
  const counted = start >= windowStart && start < windowEnd;
  if (counted) counts.started++;
  inFlight++;
  const client = clients[next++ % clients.length];
  client.makeUnaryRequest(a.path, identity, identity, body, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (error) => {
    inFlight--;
    if (counted) {
      if (!error) {
        counts.ok++;
        latencies.push((performance.now() - start) * 1000);
      } else if (error.code === grpc.status.UNAVAILABLE) counts.shed++;
      else if (error.code === grpc.status.DEADLINE_EXCEEDED) counts.deadline++;
      else if (error.code === grpc.status.RESOURCE_EXHAUSTED) counts.exhausted++;
      else counts.other++;
    }
    if (a.mode === "closed" && !stopped) call();
    if (stopped && inFlight === 0) settleAll();
  });
}

if (a.mode === "closed") {
  for (let i = 0; i < concurrency; i++) call();
  setTimeout(() => (stopped = true), warmupMs + durationMs);
} else {
  // Open loop: every millisecond, start the calls due by now.
  let sent = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    if (now >= windowEnd) {
      clearInterval(timer);
      stopped = true;
      if (inFlight === 0) settleAll();
      return;
    }
    const due = Math.floor(((now - t0) / 1000) * rate);
    while (sent < due) {
      sent++;
      call();
    }
  }, 1);
}
await settled;
for (const c of clients) c.close();
latencies.sort((x, y) => x - y);
const pct = (p) => (latencies.length === 0 ? null : latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]);
process.stdout.write(
  JSON.stringify({
    mode: a.mode,
    rate: a.mode === "open" ? rate : null,
    ...counts,
    seconds: durationMs / 1000,
    goodput: counts.ok / (durationMs / 1000),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
  }) + "\n",
);
