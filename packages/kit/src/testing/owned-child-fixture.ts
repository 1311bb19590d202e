/**
 * Fixture of owned-child.spec: as the parent (the default), it starts one owned child
 * (this file again, FIXTURE_ROLE=child) and creates one temporary folder, prints
 * `{"childPid":…,"tempDir":…}` and waits to be signalled — or, with FIXTURE_EXIT set,
 * exits with that code at once. As the child it only stays alive.
 */
import { fileURLToPath } from "node:url";
import { spawnOwnedNode } from "./owned-child.js";
import { createTempDir } from "./temp-dir.js";

const keepAlive = (): void => void setInterval(() => undefined, 60_000);

if (process.env["FIXTURE_ROLE"] === "child") {
  keepAlive();
} else {
  const child = spawnOwnedNode(fileURLToPath(import.meta.url), {
    env: { ...process.env, FIXTURE_ROLE: "child" },
    stdio: ["ignore", "ignore", "ignore"],
  });
  const dir = createTempDir("trellis-owned-child-");
  process.stdout.write(`${JSON.stringify({ childPid: child.pid, tempDir: dir.path })}\n`);
  const exitCode = process.env["FIXTURE_EXIT"];
  if (exitCode !== undefined) process.exit(Number(exitCode));
  keepAlive();
}
