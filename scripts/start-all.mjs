#!/usr/bin/env node
// `npm start`: runs the whole system on embedded defaults, one process per
// service (as in production), and stops them together. SIGTERM/SIGINT are
// forwarded so each service drains; if one exits on its own, the others are
// stopped and the launcher exits non-zero.
// Every service under services/ with a built main.js is started: a new service
// joins `npm start` without an edit here.
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const services = readdirSync(new URL("../services", import.meta.url), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(new URL(`../services/${entry.name}/dist/main.js`, import.meta.url)))
  .map((entry) => ({ name: entry.name, entry: `services/${entry.name}/dist/main.js`, env: {} }));
if (services.length === 0) {
  process.stderr.write("start: no built service under services/*/dist/main.js; run npm run build\n");
  process.exit(1);
}

const children = services.map((service) => {
  const child = spawn(process.execPath, [service.entry], {
    cwd: root,
    env: { ...process.env, ...service.env },
    stdio: ["ignore", "inherit", "inherit"],
    // Own process group: Ctrl-C in a terminal signals the launcher only, which
    // forwards it once (a second signal makes a service exit without draining).
    detached: true,
  });
  return { service, child, exited: new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal }))) };
});

let stopping = false;
function stopAll(signal) {
  if (stopping) return;
  stopping = true;
  for (const { child } of children) if (child.exitCode === null) child.kill(signal);
}

let signals = 0;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    signals += 1;
    if (signals > 1) {
      for (const { child } of children) child.kill("SIGKILL");
      process.exit(130);
    }
    stopAll(signal);
  });
}

for (const { service, exited } of children) {
  exited.then(({ code, signal }) => {
    if (!stopping) {
      process.stderr.write(`start: ${service.name} exited (${signal ?? `code ${code}`}); stopping the others\n`);
      process.exitCode = 1;
      stopAll("SIGTERM");
    }
  });
}

process.on("exit", () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

const results = await Promise.all(children.map((c) => c.exited));
if (process.exitCode === undefined) process.exitCode = results.every((r) => r.code === 0) ? 0 : 1;
