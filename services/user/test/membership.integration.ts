/**
 * Membership under load, against real processes: user instances registered in
 * a real registry — etcd, or a Consul agent that probes their grpc.health.v1 —
 * sharing a real PostgreSQL, called through the client kit (the registry's
 * resolver, p2c_ewma, retries). Needs TEST_DATABASE_URL and either TEST_REGISTRY
 * (a TRELLIS_REGISTRY value: etcd://host:port or consul://host:port) or
 * TEST_ETCD_ENDPOINT; CI runs it once against each. Run with `npm run test:membership`.
 * The figures (calls, failures, how soon a new instance serves, how soon a killed one
 * leaves the registry) are printed as test diagnostics.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Code, RpcError, closeClient, createClient, type Client } from "@trellis/kit";
import { createRegistryFromUrl, parseRegistryUrl, type ServiceInstance, type Registry as ServiceRegistry } from "@trellis/kit/discovery";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { spawnOwnedNode } from "@trellis/kit/testing";

const MAIN = fileURLToPath(new URL("../main.js", import.meta.url));
const registryUrl = process.env.TEST_REGISTRY ?? (process.env.TEST_ETCD_ENDPOINT ? `etcd://${process.env.TEST_ETCD_ENDPOINT}` : undefined);
const databaseUrl = process.env.TEST_DATABASE_URL;
if (!registryUrl || !databaseUrl) {
  throw new Error(
    "membership tests need TEST_REGISTRY (etcd://host:port or consul://host:port) or TEST_ETCD_ENDPOINT, and TEST_DATABASE_URL (a PostgreSQL URL); .ci/run starts them",
  );
}
const kind = parseRegistryUrl(registryUrl).kind;

interface Instance {
  readonly child: ChildProcess;
  readonly port: number;
  /** Calls this instance answered, counted from its access log. */
  served: number;
  readonly exited: Promise<number | null>;
}

async function startInstance(extraEnv: Record<string, string> = {}): Promise<Instance> {
  // Owned: killed with this test process however it ends (a timed-out step, a signal).
  const child = spawnOwnedNode(MAIN, {
    env: {
      ...process.env,
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: "0",
      ADMIN_PORT: "0",
      DATABASE_URL: databaseUrl,
      TRELLIS_REGISTRY: registryUrl,
      TRELLIS_ADVERTISE_HOST: "127.0.0.1",
      SHUTDOWN_DELAY_MS: "500",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const instance: { -readonly [K in keyof Instance]: Instance[K] } = { child, port: 0, served: 0, exited };
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (typeof entry["server.port"] === "number") {
        instance.port = entry["server.port"];
        resolve();
      }
      if (entry["grpc.code"] === "OK") instance.served += 1;
    });
    void exited.then((code) => reject(new Error(`user instance exited with ${code} before listening`)));
  });
  return instance;
}

/** Calls GetUser continuously with `concurrency` in flight until stopped; counts outcomes. */
function load(users: Client<typeof UserService>, id: string, concurrency: number) {
  const stats = { ok: 0, failed: 0, codes: new Map<Code, number>(), messages: new Set<string>() };
  let running = true;
  const worker = async (): Promise<void> => {
    while (running) {
      try {
        await users.getUser({ id }, { timeoutMs: 2_000 });
        stats.ok += 1;
      } catch (error) {
        stats.failed += 1;
        const code = error instanceof RpcError ? error.code : Code.UNKNOWN;
        stats.codes.set(code, (stats.codes.get(code) ?? 0) + 1);
        if (stats.messages.size < 5) stats.messages.add((error as Error).message);
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    stats,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

describe(`user instances behind ${kind}, under load`, () => {
  const instances: Instance[] = [];
  let registry: ServiceRegistry;
  let users: Client<typeof UserService>;
  let userId: string;
  /** The registered set as a client sees it, and when each port was last seen leaving it. */
  const membership = { ports: new Set<number>(), leftAt: new Map<number, number>() };
  const watching = new AbortController();

  before(async () => {
    for (let i = 0; i < 3; i += 1) instances.push(await startInstance());
    registry = await createRegistryFromUrl(registryUrl);
    void (async () => {
      for await (const set of registry.watch("user", watching.signal)) {
        const ports = new Set(set.map((instance: ServiceInstance) => instance.port));
        for (const port of membership.ports) if (!ports.has(port)) membership.leftAt.set(port, Date.now());
        membership.ports = ports;
      }
    })().catch(() => undefined);
    users = createClient(UserService, `${kind}:///user`, { discovery: registry });
    const email = `member.${process.pid}.${Date.now()}@example.com`;
    userId = (await users.createUser({ email, displayName: "Member" })).user!.id;
    // Every instance takes traffic before the experiments start.
    const warm = load(users, userId, 6);
    assert.ok(await until(() => instances.every((i) => i.served > 0), 5_000), "all three instances serve");
    await warm.stop();
  });

  after(async () => {
    watching.abort();
    closeClient(users);
    for (const instance of instances) if (instance.child.exitCode === null) instance.child.kill("SIGKILL");
    await registry?.close();
  });

  it("loses no idempotent call when an instance is killed with SIGKILL", async (t) => {
    const traffic = load(users, userId, 8);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const victim = instances[0]!;
    victim.child.kill("SIGKILL");
    const killedAt = Date.now();
    await victim.exited;
    const servedBefore = instances.slice(1).map((i) => i.served);
    assert.ok(await until(() => instances.slice(1).every((i, n) => i.served > servedBefore[n]! + 20), 5_000), "the survivors keep serving");
    await traffic.stop();
    // How long the registry kept announcing the dead instance (etcd: its lease; Consul: its check).
    const gone = await until(() => membership.leftAt.has(victim.port), 20_000);
    t.diagnostic(
      `${kind}: kill -9 under load: ${traffic.stats.ok} GetUser calls ok, ${traffic.stats.failed} failed; ` +
        `the killed instance left the registry after ${gone ? `${membership.leftAt.get(victim.port)! - killedAt} ms` : "more than 20 s"}`,
    );
    assert.equal(
      traffic.stats.failed,
      0,
      `failed calls: ${JSON.stringify([...traffic.stats.codes])}: ${[...traffic.stats.messages].join(" | ")}`,
    );
    assert.ok(traffic.stats.ok > 0);
  });

  it("sends traffic to a new instance within 2 s of it registering", async (t) => {
    const traffic = load(users, userId, 6);
    const fresh = await startInstance();
    instances.push(fresh);
    const registeredAt = Date.now();
    const reached = await until(() => fresh.served > 0, 2_000);
    await traffic.stop();
    t.diagnostic(
      `${kind}: scale-up: the new instance served its first call ${Date.now() - registeredAt} ms or less after it announced itself; ${traffic.stats.ok} calls ok, ${traffic.stats.failed} failed`,
    );
    assert.ok(reached, `the new instance got no call within 2 s (after ${Date.now() - registeredAt} ms)`);
    assert.equal(traffic.stats.failed, 0);
  });

  it("loses no call, idempotent or not, when an instance stops gracefully", async (t) => {
    const traffic = load(users, userId, 6);
    let created = 0;
    let createFailures = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        try {
          await users.createUser({ email: `graceful.${process.pid}.${Date.now()}.${created}@example.com`, displayName: "G" });
          created += 1;
        } catch {
          createFailures += 1;
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const leaving = instances[1]!;
    leaving.child.kill("SIGTERM");
    assert.equal(await leaving.exited, 0, "the instance drains and exits 0");
    await new Promise((resolve) => setTimeout(resolve, 300));
    writing = false;
    await writer;
    await traffic.stop();
    t.diagnostic(
      `${kind}: SIGTERM under load: ${traffic.stats.ok} reads ok, ${traffic.stats.failed} failed; ${created} writes ok, ${createFailures} failed; exit code 0`,
    );
    assert.equal(traffic.stats.failed, 0, `failed reads: ${JSON.stringify([...traffic.stats.codes])}`);
    assert.equal(createFailures, 0, "no failed writes");
    assert.ok(created > 0);
  });
});
