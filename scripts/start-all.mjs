#!/usr/bin/env node
// `npm start`: runs the whole system on embedded defaults, one process per
// service (as in production), and stops them together. SIGTERM/SIGINT are
// forwarded so each service drains; if one exits on its own, the others are
// stopped and the launcher exits non-zero.
// Every service under services/ with a built main.js is started: a new service
// joins `npm start` without an edit here. Their log lines pass through unchanged;
// once every service has logged its listening line, one plain line says that the
// system is up and where the web app is (the edge's URL).
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createInterface } from "node:readline";
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
    stdio: ["ignore", "pipe", "inherit"],
    // Own process group: Ctrl-C in a terminal signals the launcher only, which
    // forwards it once (a second signal makes a service exit without draining).
    detached: true,
  });
  return { service, child, exited: new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal }))) };
});

// The services' JSON lines, passed through whole; a reader that went away (`npm start | head`)
// must not take the launcher down with it.
process.stdout.on("error", () => undefined);
const listening = new Map();
for (const { service, child } of children) {
  createInterface({ input: child.stdout }).on("line", (line) => {
    process.stdout.write(`${line}\n`);
    if (!line.startsWith("{")) return;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof entry["server.port"] !== "number" || listening.has(service.name)) return;
    listening.set(service.name, entry);
    if (listening.size === children.length) announce();
  });
}

/** One line once all are listening: the web app's URL (the edge's), or what is running. */
function announce() {
  const names = children.map(({ service }) => service.name).join(", ");
  const url = [...listening.values()].map((entry) => entry["edge.url"]).find((value) => typeof value === "string");
  process.stdout.write(
    url === undefined
      ? `start: ${names} are up (no edge: no web app). Ctrl-C stops them.\n`
      : `start: ${names} are up. Open the web app at ${url} (Ctrl-C stops them)\n`,
  );
}

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
