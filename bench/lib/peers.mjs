// The peer servers: the same UserService (same dataset) on each stack. Each peer is started
// pinned to core 0 (`taskset -c 0`), prints `READY <port>` on stdout when it listens, and
// exits on SIGTERM. This file only starts and stops them; the peers live in bench/peers/.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { run, tail, sleep } from "./util.mjs";
import { setTimeout, clearTimeout } from "node:timers";

/** Peer ids in report order. kind: "grpc" or "rest". */
export const PEERS = [
  // Access logs on (every call), metrics and tracing off: the observability scenario measures those.
  {
    id: "trellis",
    kind: "grpc",
    entry: "trellis-user.mjs",
    label: "Trellis (kit on @grpc/grpc-js + protobuf-es)",
    env: { TRELLIS_METRICS: "off", LOG_SUCCESS_SAMPLE: "1", OTEL_SDK_DISABLED: "true" },
  },
  { id: "grpc-js-proto-loader", kind: "grpc", entry: "grpc-js-proto-loader.mjs", label: "@grpc/grpc-js + proto-loader" },
  { id: "grpc-js-protobuf-es", kind: "grpc", entry: "grpc-js-protobuf-es.mjs", label: "@grpc/grpc-js + protobuf-es (no kit)" },
  { id: "connect-node", kind: "grpc", entry: "connect-node.mjs", label: "@connectrpc/connect-node" },
  { id: "nest", kind: "grpc", entry: "nest.mjs", label: "NestJS microservices (gRPC transport)" },
  { id: "grpc-go", kind: "grpc", go: true, label: "grpc-go (Go reference)" },
  { id: "fastify-rest", kind: "rest", entry: "fastify-rest.mjs", label: "Fastify REST/JSON (HTTP/1.1)" },
];
export const PEER_IDS = PEERS.map((p) => p.id);

export const CHAT_ENTRY = "trellis-chat.mjs";

export function peerById(id) {
  return PEERS.find((p) => p.id === id);
}

/** The file whose presence means "this peer has been written". */
export function peerEntryFile(peersDir, peer) {
  return peer.go ? join(peersDir, "go", "build.sh") : join(peersDir, peer.entry);
}

export function peerExists(peersDir, peer) {
  return existsSync(peerEntryFile(peersDir, peer));
}

/** Builds what a peer needs before it can start (only the Go peer has a build step). */
export async function buildPeer(peersDir, peer, log) {
  if (!peer.go) return;
  const r = await run("bash", [join(peersDir, "go", "build.sh")], { timeoutMs: 600_000 });
  log?.(r.stdout + r.stderr);
  if (r.code !== 0) throw new Error(`go build failed (exit ${r.code}): ${tail(r.stdout + r.stderr)}`);
  if (!existsSync(join(peersDir, "go", "bin", "user-server"))) {
    throw new Error("bench/peers/go/build.sh did not produce bench/peers/go/bin/user-server");
  }
}

/**
 * Starts `taskset -c <core> <command...> --port <port> [extra]` and waits for `READY <port>`.
 * Returns { pid, port, stop(), stderrTail() }. taskset execs the program, so pid is the
 * server's own pid (what /proc readings use).
 */
export async function startProcess({ command, args, port, core = 0, timeoutMs = 30_000, name, env = {} }) {
  const child = spawn("taskset", ["-c", String(core), command, ...args, "--port", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_ENV: "production", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-8000);
  });
  let exited = null;
  const exitPromise = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    }),
  );
  const ready = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ error: `no "READY ${port}" within ${timeoutMs / 1000} s` }), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ error: e.message });
    });
    child.stdout.on("data", (d) => {
      stdout = (stdout + d).slice(-8000);
      const m = /READY (\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]) });
      }
    });
    exitPromise.then((e) => {
      clearTimeout(timer);
      resolve({ error: `exited (${e.signal ?? "code " + e.code}) before READY` });
    });
  });
  // Keep draining stdout so a chatty peer never blocks on a full pipe.
  child.stdout.on("data", () => {});
  const stop = async () => {
    if (exited) return exited;
    child.kill("SIGTERM");
    const t = await Promise.race([exitPromise, sleep(5000).then(() => null)]);
    if (t) return t;
    child.kill("SIGKILL");
    return exitPromise;
  };
  if (ready.error) {
    await stop();
    const why = tail(stderr, 3) || tail(stdout, 2);
    throw new Error(`${name}: ${ready.error}${why ? ` — ${why}` : ""}`);
  }
  return {
    pid: child.pid,
    port: ready.port,
    stop,
    signal: (name) => child.kill(name),
    alive: () => exited === null,
    exitInfo: () => (exited ? (exited.signal ? `killed by ${exited.signal}` : `exit code ${exited.code}`) : "running"),
    stderrTail: () => tail(stderr, 3),
  };
}

/**
 * Starts one peer on `port`; throws an Error whose message is the reason it failed.
 * Node peers may get extra `nodeArgs` (e.g. `--import` a profiling hook) and `env`.
 */
export async function startPeer(peersDir, peer, port, { nodeArgs = [], env = {} } = {}) {
  const file = peerEntryFile(peersDir, peer);
  if (!existsSync(file)) throw new Error(`entry file ${file} not found`);
  if (peer.go) {
    return startProcess({
      command: join(peersDir, "go", "bin", "user-server"),
      args: [],
      port,
      name: peer.id,
      env: { ...peer.env, ...env },
    });
  }
  return startProcess({ command: process.execPath, args: [...nodeArgs, file], port, name: peer.id, env: { ...peer.env, ...env } });
}

/** Starts the Trellis chat peer, which calls the user peer at `userPort`. */
export async function startChat(peersDir, port, userPort) {
  const file = join(peersDir, CHAT_ENTRY);
  if (!existsSync(file)) throw new Error(`${file} not found (the chat peer has not been written yet)`);
  return startProcess({
    command: process.execPath,
    args: [file, "--user-target", `127.0.0.1:${userPort}`],
    port,
    name: "trellis-chat",
  });
}
