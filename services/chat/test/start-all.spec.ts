// `npm start` (scripts/start-all.mjs), as the README's quick start promises it: one process per
// built service (user, chat and the edge), the web app's URL printed once all listen, a signal
// forwarded once so every service drains, and all stopped when one dies.
// It lives here because npm test runs the workspaces' specs, and chat is the service that needs
// the others.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { onProcessEnd, spawnOwnedNode, waitFor } from "@trellis/kit/testing";

const SERVICES = ["user", "chat", "edge"] as const;
const START_ALL = fileURLToPath(new URL("../../../../scripts/start-all.mjs", import.meta.url));

/** Whether `pid` is a live process (a zombie is not). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Runs the launcher on free ports and in-memory databases; `test` gets its services' log lines. */
async function withLauncher(
  test: (launcher: {
    readonly logs: readonly Record<string, unknown>[];
    /** The launcher's own (non-JSON) stdout lines. */
    readonly said: readonly string[];
    readonly stderr: () => string;
    readonly pidOf: (service: string) => number;
    readonly kill: (signal: NodeJS.Signals) => void;
    readonly exited: Promise<number | null>;
  }) => Promise<void>,
): Promise<void> {
  const launcher = spawnOwnedNode(START_ALL, {
    env: { ...process.env, GRPC_HOST: "127.0.0.1", GRPC_PORT: "0", ADMIN_PORT: "0", EDGE_PORT: "0", PGLITE_DATA_DIR: "memory://" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => launcher.once("exit", (code) => resolve(code)));
  const logs: Record<string, unknown>[] = [];
  const said: string[] = [];
  let stderr = "";
  launcher.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  // The services run in process groups of their own: if this test dies first, they must not stay.
  const releases: (() => void)[] = [];
  createInterface({ input: launcher.stdout! }).on("line", (line) => {
    if (!line.startsWith("{")) return void said.push(line);
    const entry = JSON.parse(line) as Record<string, unknown>;
    logs.push(entry);
    const pid = entry["process.pid"];
    if (typeof entry["server.port"] === "number" && typeof pid === "number")
      releases.push(onProcessEnd(() => process.kill(pid, "SIGKILL")));
  });
  const listening = (service: string) => logs.find((l) => l["service.name"] === service && typeof l["server.port"] === "number");
  try {
    await waitFor(() => SERVICES.every((service) => listening(service) !== undefined), "user, chat and edge are listening", {
      timeoutMs: 60_000,
    });
    await test({
      logs,
      said,
      stderr: () => stderr,
      pidOf: (service) => Number(listening(service)?.["process.pid"]),
      kill: (signal) => void launcher.kill(signal),
      exited,
    });
  } finally {
    launcher.kill("SIGKILL");
    for (const service of SERVICES) {
      const pid = Number(listening(service)?.["process.pid"]);
      if (pid > 0 && running(pid)) process.kill(pid, "SIGKILL");
    }
    for (const release of releases) release();
  }
}

const completed = (logs: readonly Record<string, unknown>[], service: string): boolean =>
  logs.some((l) => l["service.name"] === service && l["event.action"] === "shutdown-complete");

describe("npm start (scripts/start-all.mjs)", () => {
  it("starts user, chat and the edge, one process each, says where the web app is, and on SIGTERM lets all drain, then exits 0", async () => {
    await withLauncher(async (launcher) => {
      assert.equal(new Set(SERVICES.map((service) => launcher.pidOf(service))).size, 3);
      const edgePort = launcher.logs.find((l) => l["service.name"] === "edge" && typeof l["http.port"] === "number")?.["http.port"];
      await waitFor(() => launcher.said.length > 0, "the launcher's line saying the system is up");
      assert.deepEqual(launcher.said, [
        `start: chat, edge, user are up. Open the web app at http://127.0.0.1:${edgePort}/ (Ctrl-C stops them)`,
      ]);
      const page = await fetch(`http://127.0.0.1:${edgePort}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>Trellis<\/title>/);
      launcher.kill("SIGTERM");
      assert.equal(await launcher.exited, 0, launcher.stderr());
      assert.ok(
        SERVICES.every((service) => completed(launcher.logs, service)),
        "every service completed its shutdown",
      );
    });
  });

  it("stops the other services and exits 1 when one dies", async () => {
    await withLauncher(async (launcher) => {
      process.kill(launcher.pidOf("user"), "SIGKILL");
      assert.equal(await launcher.exited, 1);
      assert.match(launcher.stderr(), /^start: user exited \(SIGKILL\); stopping the others\n/);
      assert.ok(completed(launcher.logs, "chat") && completed(launcher.logs, "edge"), "chat and the edge were stopped and drained");
    });
  });
});
