import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startServiceProcess } from "../testing/service-process.js";

const FIXTURE = fileURLToPath(new URL("./run-service-fixture.js", import.meta.url));

/** Runs the fixture to its exit; its stderr and its JSON log lines. */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string; logs: Record<string, unknown>[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FIXTURE], {
      env: { ...process.env, GRPC_HOST: "127.0.0.1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("exit", (code) =>
      resolve({
        code,
        stderr,
        logs: stdout
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      }),
    );
  });
}

describe("runService", () => {
  it("starts, announces one listening line with the service's fields and its clients, and on SIGTERM closes what it owns in reverse order, exit 0", async () => {
    const service = await startServiceProcess(FIXTURE, { env: { ECHO_SERVICE_TARGET: "static:///127.0.0.1:9" } });
    const listening = service.logs.find((l) => typeof l["server.port"] === "number");
    assert.equal(listening?.["fixture.field"], "present");
    assert.equal(listening?.["echo_service.target"], "static:///127.0.0.1:9");
    assert.match(String(listening?.["message"]), /^echo service listening on .*; calls echo at static:\/\/\/127\.0\.0\.1:9$/);
    await service.stop();
    assert.equal(await service.exited, 0);
    const closed = service.logs.filter((l) => l["fixture.closed"] !== undefined).map((l) => l["fixture.closed"]);
    assert.deepEqual(closed, ["second", "first"]);
  });

  it("exits 2 with one line naming a malformed variable, its own or a client's target", async () => {
    for (const [name, value] of [
      ["GRPC_PORT", "http"],
      ["ECHO_SERVICE_TARGET", "not a target"],
    ] as const) {
      const { code, stderr } = await runToExit({ GRPC_PORT: "0", ADMIN_PORT: "0", [name]: value });
      assert.equal(code, 2, stderr);
      assert.match(stderr, new RegExp(`^echo: ${name} must be .*\\n$`));
    }
  });

  it("exits 1 with one line when start fails, closing what it had opened", async () => {
    const { code, stderr, logs } = await runToExit({ GRPC_PORT: "0", ADMIN_PORT: "0", FIXTURE_FAIL: "1" });
    assert.equal(code, 1);
    assert.equal(stderr, "echo: failed to start: the fixture was told to fail\n");
    assert.deepEqual(
      logs.filter((l) => l["fixture.closed"] !== undefined).map((l) => l["fixture.closed"]),
      ["first"],
    );
  });
});
