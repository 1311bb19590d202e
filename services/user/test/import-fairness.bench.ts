/**
 * Measures what one fast ImportUsers client does to everyone else: GetUser latency on another
 * connection and /healthz latency, before and during the import, against the real process.
 *
 *   node services/user/dist/test/import-fairness.bench.js [rows=20000] [disk|memory]
 *   BENCH_ENV="PGLITE_SLICE_MS=50" BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node …
 *   BENCH_USER_MAIN=/path/to/an/older/checkout/services/user/dist/main.js node …   (before/after)
 *
 * The importer runs in a process of its own, so that its CPU does not delay the probes' event
 * loop. Not part of `npm test` (it asserts nothing and takes a while); the figures in the
 * user service's README come from it.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient, closeClient } from "@trellis/kit";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { startServiceProcess } from "@trellis/kit/testing";
import { USER_MAIN } from "./user-main.js";

const rows = Number(process.argv[2] ?? 20_000);
const storage = process.argv[3] === "memory" ? "memory" : "disk";
const ownConnection = { channelOptions: { "grpc.use_local_subchannel_pool": 1 } } as const;

/** BENCH_ENV="A=1 B=2": variables for the service under test (its limits, say). */
function extraEnv(): Record<string, string> {
  const pairs = (process.env["BENCH_ENV"] ?? "").split(" ").filter((pair) => pair.includes("="));
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]));
}

interface Samples {
  readonly ms: number[];
  misses: number;
}

function summary(name: string, samples: Samples): string {
  const sorted = [...samples.ms].sort((a, b) => a - b);
  const at = (q: number): string => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN).toFixed(1);
  return `${name}: n=${sorted.length} p50=${at(0.5)} ms p99=${at(0.99)} ms max=${at(1)} ms misses(>1 s)=${samples.misses}`;
}

/** The importer process: streams `count` rows as fast as flow control lets it, prints the summary. */
async function importRows(address: string, count: number): Promise<void> {
  const importer = createClient(UserService, address, ownConnection);
  const started = performance.now();
  const result = await importer.importUsers(
    (async function* () {
      for (let i = 0; i < count; i += 1) yield { email: `bulk${i}@example.com`, displayName: `Bulk ${i}` };
    })(),
    { timeoutMs: 600_000 },
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `import ${result.createdCount}/${result.receivedCount} rows in ${seconds.toFixed(1)} s (${(result.createdCount / seconds).toFixed(0)} rows/s)`,
  );
  closeClient(importer);
}

async function main(): Promise<void> {
  const dir = storage === "disk" ? mkdtempSync(join(tmpdir(), "trellis-import-bench-")) : undefined;
  try {
    await measureImport(dir);
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}

async function measureImport(dir: string | undefined): Promise<void> {
  const service = await startServiceProcess(process.env["BENCH_USER_MAIN"] ?? USER_MAIN, {
    env: { PGLITE_DATA_DIR: dir ?? "memory://", ...extraEnv() },
    nodeArgs: (process.env["BENCH_NODE_ARGS"] ?? "").split(" ").filter((arg) => arg !== ""),
  });
  const prober = createClient(UserService, service.address, ownConnection);
  try {
    const { user } = await prober.createUser({ email: "probe@example.com", displayName: "Probe" });
    const id = user!.id;
    const measure = async (stop: () => boolean): Promise<{ getUser: Samples; healthz: Samples }> => {
      const getUser: Samples = { ms: [], misses: 0 };
      const healthz: Samples = { ms: [], misses: 0 };
      const probeRpc = async (): Promise<void> => {
        while (!stop()) {
          const start = performance.now();
          try {
            await prober.getUser({ id }, { timeoutMs: 1_000 });
            getUser.ms.push(performance.now() - start);
          } catch {
            getUser.misses += 1;
          }
        }
      };
      const probeHealth = async (): Promise<void> => {
        while (!stop()) {
          const start = performance.now();
          try {
            await service.healthz(1_000);
            healthz.ms.push(performance.now() - start);
          } catch {
            healthz.misses += 1;
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      };
      await Promise.all([probeRpc(), probeHealth()]);
      return { getUser, healthz };
    };

    const idleUntil = Date.now() + 3_000;
    const idle = await measure(() => Date.now() > idleUntil);
    console.log(`storage=${storage} rows=${rows}`);
    console.log(`idle   ${summary("GetUser", idle.getUser)}`);
    console.log(`idle   ${summary("/healthz", idle.healthz)}`);

    let done = false;
    const importer = fork(fileURLToPath(import.meta.url), ["--import", service.address, String(rows)]);
    const finished = once(importer, "exit").finally(() => (done = true));
    const logged = service.logs.length;
    const during = await measure(() => done);
    await finished;
    const serverSide: Samples = { ms: [], misses: 0 };
    for (const line of service.logs.slice(logged)) {
      if (line["rpc.method"] === "trellis.user.v1.UserService/GetUser" && typeof line["event.duration_ms"] === "number")
        serverSide.ms.push(line["event.duration_ms"]);
    }
    console.log(`during ${summary("GetUser", during.getUser)}`);
    console.log(`during ${summary("/healthz", during.healthz)}`);
    console.log(`during ${summary("GetUser in the server (access log)", serverSide)}`);
  } finally {
    closeClient(prober);
    await service.stop();
  }
}

if (process.argv[2] === "--import") await importRows(process.argv[3] ?? "", Number(process.argv[4]));
else await main();
