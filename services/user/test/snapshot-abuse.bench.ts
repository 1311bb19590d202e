/**
 * Measures what abandoned include_snapshot watches do to everyone else, against the real
 * process: `streams` clients open a snapshot of `users` users, read nothing, and are killed
 * after `holdMs` (the issue's "client gone after 5 s"); meanwhile another process' client calls
 * GetUser back to back with a 1 s deadline and /healthz is polled every 100 ms with a 1 s timeout.
 *
 *   node services/user/dist/test/snapshot-abuse.bench.js [users=70000] [streams=10] [holdMs=5000]
 *   BENCH_USER_MAIN=/path/to/an/older/checkout/services/user/dist/main.js node …   (before/after)
 *   BENCH_ENV="WATCH_MAX_SNAPSHOTS=8" node …
 *
 * Not part of `npm test`: it seeds tens of thousands of users and runs for up to minutes.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient, closeClient } from "@trellis/kit";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { seedUsers } from "./seed-users.js";
import { startServiceProcess } from "@trellis/kit/testing";
import { USER_MAIN } from "./user-main.js";

const ownConnection = { channelOptions: { "grpc.use_local_subchannel_pool": 1 } } as const;
/** After the abuse, probing stops once this long passed without a miss. */
const QUIET_MS = 10_000;
const MAX_MS = 400_000;

/** The abusers' process: opens `streams` snapshot watches, never reads, waits to be killed. */
async function abuse(address: string, streams: number): Promise<void> {
  const clients = Array.from({ length: Math.ceil(streams / 10) }, () => createClient(UserService, address, ownConnection));
  let opened = 0;
  for (let i = 0; i < streams; i += 1) {
    const iterator = clients[i % clients.length]!.watchUsers({ includeSnapshot: true })[Symbol.asyncIterator]();
    // Ask for the first message only; whatever happens after is the server's business.
    iterator.next().then(
      () => undefined,
      () => undefined,
    );
    opened += 1;
  }
  process.send?.({ opened });
  await new Promise(() => undefined);
}

function extraEnv(): Record<string, string> {
  const pairs = (process.env["BENCH_ENV"] ?? "").split(" ").filter((pair) => pair.includes("="));
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]));
}

async function main(): Promise<void> {
  const users = Number(process.argv[2] ?? 70_000);
  const streams = Number(process.argv[3] ?? 10);
  const holdMs = Number(process.argv[4] ?? 5_000);
  const dir = await mkdtemp(join(tmpdir(), "trellis-snapshot-bench-"));
  try {
    await seedUsers(dir, users);
    await measureAbuse(dir, users, streams, holdMs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measureAbuse(dir: string, users: number, streams: number, holdMs: number): Promise<void> {
  const service = await startServiceProcess(process.env["BENCH_USER_MAIN"] ?? USER_MAIN, { env: { PGLITE_DATA_DIR: dir, ...extraEnv() } });
  const prober = createClient(UserService, service.address, ownConnection);
  try {
    const { user } = await prober.createUser({ email: "probe@example.com", displayName: "Probe" });
    const id = user!.id;
    const idleRss = await service.rssBytes();
    const started = performance.now();
    const at = (): number => performance.now() - started;
    let peakRss = idleRss;
    let lastMiss = -1;
    let misses = 0;
    let healthMisses = 0;
    let calls = 0;
    let abuseOver = false;
    const done = (): boolean => (abuseOver && (lastMiss < 0 || at() - lastMiss > QUIET_MS) && at() > holdMs + QUIET_MS) || at() > MAX_MS;

    const abusers = fork(fileURLToPath(import.meta.url), ["--abuse", service.address, String(streams)]);
    await once(abusers, "message");
    setTimeout(() => {
      abusers.kill("SIGKILL");
      abuseOver = true;
    }, holdMs);
    await Promise.all([
      (async () => {
        while (!done()) {
          try {
            await prober.getUser({ id }, { timeoutMs: 1_000 });
            calls += 1;
          } catch {
            misses += 1;
            lastMiss = at();
          }
        }
      })(),
      (async () => {
        while (!done()) {
          try {
            await service.healthz(1_000);
          } catch {
            healthMisses += 1;
            lastMiss = at();
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })(),
      (async () => {
        while (!done()) {
          peakRss = Math.max(peakRss, await service.rssBytes());
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })(),
    ]);
    const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
    console.log(`users=${users} streams=${streams} clients gone after ${holdMs} ms`);
    console.log(`GetUser: ${calls} ok, ${misses} missed the 1 s deadline; /healthz: ${healthMisses} missed its 1 s timeout`);
    console.log(`others failing until ${lastMiss < 0 ? "never" : `${(lastMiss / 1000).toFixed(1)} s after the abuse began`}`);
    console.log(`RSS idle ${mib(idleRss)}, peak ${mib(peakRss)}, after ${mib(await service.rssBytes())}`);
  } finally {
    closeClient(prober);
    await service.stop();
  }
}

if (process.argv[2] === "--abuse") await abuse(process.argv[3] ?? "", Number(process.argv[4]));
else await main();
