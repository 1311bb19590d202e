import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Code, RpcError, createClient, closeClient } from "@trellis/kit";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";

const MAIN = fileURLToPath(new URL("../main.js", import.meta.url));

interface Started {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<number | null>;
}

/** Starts the real user process on free ports and waits for its "listening" log line. */
async function startUser(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, GRPC_PORT: "0", ADMIN_PORT: "0", GRPC_HOST: "127.0.0.1", PGLITE_DATA_DIR: "memory://", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (typeof entry["server.port"] === "number") resolve(entry["server.port"]);
    });
    void exited.then((code) => reject(new Error(`user exited with ${code} before listening`)));
  });
  return { child, port, exited };
}

function runToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN], { env: { ...process.env, PGLITE_DATA_DIR: "memory://", ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("exit", (code) => resolve({ code, stderr }));
  });
}

describe("user process", () => {
  for (const [name, value, pattern] of [
    ["GRPC_PORT", "http", /^user: GRPC_PORT must be an integer from 0 to 65535 \(got "http"\)\n$/],
    ["DATABASE_URL", "mysql://db/users", /^user: DATABASE_URL must use the scheme postgres or postgresql \(got "mysql"\)\n$/],
    ["LOG_LEVEL", "chatty", /^user: LOG_LEVEL must be one of .* \(got "chatty"\)\n$/],
    ["PGLITE_SLICE_MS", "-5", /^user: PGLITE_SLICE_MS must be an integer from 0 to 1000 \(got "-5"\)\n$/],
    ["WATCH_MAX_SNAPSHOTS", "0", /^user: WATCH_MAX_SNAPSHOTS must be an integer from 1 to 1000 \(got "0"\)\n$/],
  ] as const) {
    it(`exits non-zero with one line naming ${name} when it is malformed`, async () => {
      const { code, stderr } = await runToExit({ [name]: value });
      assert.equal(code, 2);
      assert.match(stderr, pattern);
    });
  }

  it("exits non-zero with one clear line when the database is unreachable", async () => {
    const { code, stderr } = await runToExit({ DATABASE_URL: "postgres://nobody:x@127.0.0.1:1/none", GRPC_PORT: "0", ADMIN_PORT: "0" });
    assert.equal(code, 1);
    assert.match(stderr, /^user: failed to start: .+\n$/);
  });

  it("serves, then on SIGTERM drains and exits 0", async () => {
    const { child, port, exited } = await startUser({});
    const users = createClient(UserService, `127.0.0.1:${port}`);
    const { user } = await users.createUser({ email: "proc@example.com", displayName: "Proc" });
    assert.ok(user);
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    closeClient(users);
  });

  it("exits at once on a second signal", async () => {
    const { child, exited } = await startUser({ SHUTDOWN_DELAY_MS: "30000" });
    child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 200));
    child.kill("SIGTERM");
    assert.equal(await exited, 130);
  });

  it("keeps embedded data in PGLITE_DATA_DIR across restarts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "trellis-user-"));
    try {
      const first = await startUser({ PGLITE_DATA_DIR: dir });
      let users = createClient(UserService, `127.0.0.1:${first.port}`);
      const { user } = await users.createUser({ email: "kept@example.com", displayName: "Kept" });
      closeClient(users);
      first.child.kill("SIGTERM");
      assert.equal(await first.exited, 0);
      const second = await startUser({ PGLITE_DATA_DIR: dir });
      users = createClient(UserService, `127.0.0.1:${second.port}`);
      assert.equal((await users.getUser({ id: user!.id })).user?.email, "kept@example.com");
      const error = await users.createUser({ email: "kept@example.com", displayName: "Again" }).catch((e: unknown) => e);
      assert.ok(error instanceof RpcError && error.code === Code.ALREADY_EXISTS);
      closeClient(users);
      second.child.kill("SIGTERM");
      assert.equal(await second.exited, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
