import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import type { ChildProcess } from "node:child_process";
import { spawnOwnedNode } from "./owned-child.js";
import { waitFor } from "./service-process.js";

const FIXTURE = fileURLToPath(new URL("./owned-child-fixture.js", import.meta.url));

/** Whether `pid` is a live process (a zombie is not: it already died, nobody reaped it yet). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Kills `pid` if it still runs: a failing test leaves nothing behind. */
function killIfRunning(pid: number): void {
  if (running(pid)) process.kill(pid, "SIGKILL");
}

/** Starts the fixture (a test process that owns one child and one temporary folder). */
async function startFixture(env: Record<string, string> = {}): Promise<{
  readonly parent: ChildProcess;
  readonly childPid: number;
  readonly tempDir: string;
  readonly ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}> {
  const parent = spawnOwnedNode(FIXTURE, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    parent.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: parent.stdout! }).once("line", resolve);
    void ended.then(({ code }) => reject(new Error(`the fixture exited with ${code} before starting its child`)));
  });
  const { childPid, tempDir } = JSON.parse(line) as { childPid: number; tempDir: string };
  if (env["FIXTURE_EXIT"] === undefined) {
    assert.ok(running(childPid), "the fixture's child runs");
    assert.ok(existsSync(tempDir), "the fixture's folder exists");
  }
  return { parent, childPid, tempDir, ended };
}

describe("owned child processes and temporary folders", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`are gone when the test process gets ${signal} (as from the test runner's timeout), which still ends it`, async () => {
      const fixture = await startFixture();
      try {
        fixture.parent.kill(signal);
        assert.deepEqual(await fixture.ended, { code: null, signal });
        await waitFor(() => !running(fixture.childPid), `the child ${fixture.childPid} was killed with its parent`);
        assert.equal(existsSync(fixture.tempDir), false, "the folder was removed");
      } finally {
        killIfRunning(fixture.childPid);
        rmSync(fixture.tempDir, { recursive: true, force: true });
      }
    });
  }

  it("are gone when the test process exits by itself", async () => {
    const fixture = await startFixture({ FIXTURE_EXIT: "3" });
    try {
      assert.deepEqual(await fixture.ended, { code: 3, signal: null });
      await waitFor(() => !running(fixture.childPid), `the child ${fixture.childPid} was killed with its parent`);
      assert.equal(existsSync(fixture.tempDir), false, "the folder was removed");
    } finally {
      killIfRunning(fixture.childPid);
      rmSync(fixture.tempDir, { recursive: true, force: true });
    }
  });

  it("kills the child even when the test process is killed with SIGKILL and can run nothing", async () => {
    const fixture = await startFixture();
    try {
      fixture.parent.kill("SIGKILL");
      assert.deepEqual(await fixture.ended, { code: null, signal: "SIGKILL" });
      await waitFor(() => !running(fixture.childPid), `the child ${fixture.childPid} noticed its parent was gone`);
    } finally {
      // Nothing runs in a SIGKILLed process: its folder is this test's to remove.
      killIfRunning(fixture.childPid);
      rmSync(fixture.tempDir, { recursive: true, force: true });
    }
  });
});
