/**
 * A throwaway `redis-server` for the suites that need a real one they can kill: on a free
 * loopback port, no persistence, its working folder a temp dir removed at stop. The process
 * is killed by `stop()` and, should a test crash past its hooks, when this process exits or
 * is signalled (the test runner's timeout).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { connect, createServer } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { onProcessEnd } from "./process-cleanup.js";
import { createTempDir } from "./temp-dir.js";

/** Options of {@link startRedisTestServer}. */
export interface RedisTestServerOptions {
  /** The redis-server binary. @default $TEST_REDIS_SERVER, else "redis-server" on PATH */
  readonly bin?: string;
  /** How long `start` waits for PONG. @default 15_000 */
  readonly startTimeoutMs?: number;
}

/** A running server. */
export interface RedisTestServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Kills it with SIGKILL (no shutdown, no save): clients see the connection drop. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty; resolves once it answers PING. */
  start(): Promise<void>;
  /** Kills it for good and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

/** Starts a server on a free port and resolves once it answers PING. */
export async function startRedisTestServer(options: RedisTestServerOptions = {}): Promise<RedisTestServer> {
  const bin = options.bin ?? process.env["TEST_REDIS_SERVER"] ?? "redis-server";
  const startTimeoutMs = options.startTimeoutMs ?? 15_000;
  const port = await freePort();
  const dir = createTempDir("trellis-redis-");
  let child: ChildProcess | undefined;
  let release: (() => void) | undefined;
  let output = "";

  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    release?.();
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, "exit");
    running.kill("SIGKILL");
    await exited;
  };

  const start = async (): Promise<void> => {
    await kill();
    output = "";
    const args = [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir.path,
      "--daemonize",
      "no",
      "--protected-mode",
      "no",
    ];
    const started = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = started;
    const collect = (chunk: Buffer): void => void (output = (output + chunk.toString()).slice(-4000));
    started.stdout?.on("data", collect);
    started.stderr?.on("data", collect);
    started.once("error", (error) => void (output += `\n${error.message}`));
    release = onProcessEnd(() => started.kill("SIGKILL"));
    const deadline = Date.now() + startTimeoutMs;
    while (!(await ping(port))) {
      if (started.exitCode !== null || started.signalCode !== null || child !== started)
        throw new Error(`${bin} exited before answering: ${output.trim()}`);
      if (Date.now() > deadline)
        throw new Error(`${bin} did not answer PING on port ${port} within ${startTimeoutMs} ms: ${output.trim()}`);
      await delay(50);
    }
  };

  try {
    await start();
  } catch (error) {
    await kill();
    dir.remove();
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    stop: async () => {
      await kill();
      dir.remove();
    },
  };
}

/** Whether a Redis on `port` answers PING with PONG (within a second). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let reply = "";
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
