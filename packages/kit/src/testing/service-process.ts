import type { ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { createInterface } from "node:readline";
import { spawnOwnedNode } from "./owned-child.js";

/** A service started as its own process, as production runs it. */
export interface ServiceProcess {
  readonly pid: number;
  /** `127.0.0.1:<grpc port>` */
  readonly address: string;
  readonly port: number;
  readonly adminPort: number;
  /** Every JSON line the process logged so far. */
  readonly logs: readonly Readonly<Record<string, unknown>>[];
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** The process' resident set size in bytes, from /proc (Linux). */
  rssBytes(): Promise<number>;
  /** GET /healthz on the admin port; resolves with the HTTP status, rejects after `timeoutMs`. @default timeoutMs 10_000 */
  healthz(timeoutMs?: number): Promise<number>;
  /** GET /readyz on the admin port (200 serving, 503 before and during shutdown); as {@link healthz}. */
  readyz(timeoutMs?: number): Promise<number>;
  /** Sends `signal` and returns at once (see `exited`). */
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it exited. @default graceMs 10_000 */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@link startServiceProcess}. */
export interface StartServiceOptions {
  /** Merged over the parent's environment and the test defaults (free ports, in-memory PGlite). */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra `node` flags, e.g. `--cpu-prof`. @default [] */
  readonly nodeArgs?: readonly string[];
  /** Give up waiting for the "listening" line after this long (a loaded 2-core machine starts several processes at once in 25-40 s). @default 60_000 */
  readonly startTimeoutMs?: number;
}

/** The environment a service process gets under test: free loopback ports, in-memory PGlite. */
const testEnv = (env: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv => ({
  ...process.env,
  GRPC_PORT: "0",
  ADMIN_PORT: "0",
  GRPC_HOST: "127.0.0.1",
  PGLITE_DATA_DIR: "memory://",
  ...env,
});

/**
 * Starts `main` (a built service entry point) on free loopback ports with an in-memory PGlite,
 * and resolves once it logged its "listening" line. The caller must `stop()` it (in an `after`
 * hook or a `finally` block). Should the test process end first — a test-runner timeout, a
 * signal, even SIGKILL — the service process is killed too (see `spawnOwnedNode`).
 */
export async function startServiceProcess(main: string, options: StartServiceOptions = {}): Promise<ServiceProcess> {
  const child: ChildProcess = spawnOwnedNode(main, { env: testEnv(options.env), nodeArgs: options.nodeArgs ?? [] });
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  try {
    const { port, adminPort } = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${main} did not start within ${options.startTimeoutMs ?? 60_000} ms`)),
        options.startTimeoutMs ?? 60_000,
      );
      createInterface({ input: child.stdout! }).on("line", (line) => {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return; // not a log line
        }
        logs.push(entry);
        if (typeof entry["server.port"] === "number" && typeof entry["admin.port"] === "number") {
          clearTimeout(timer);
          resolve({ port: entry["server.port"], adminPort: entry["admin.port"] });
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${main} exited with ${code} before listening: ${stderr.trim()}`));
      });
    });
    const pid = child.pid as number;
    return {
      pid,
      port,
      adminPort,
      address: `127.0.0.1:${port}`,
      logs,
      exited,
      rssBytes: async () => {
        const status = await readFile(`/proc/${pid}/status`, "utf8");
        const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
        if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
        return Number(kb) * 1024;
      },
      healthz: (timeoutMs = 10_000) => adminStatus(adminPort, "/healthz", timeoutMs),
      readyz: (timeoutMs = 10_000) => adminStatus(adminPort, "/readyz", timeoutMs),
      kill: (signal) => void child.kill(signal),
      stop,
    };
  } catch (error) {
    await stop(0);
    throw error;
  }
}

/** GET `path` on the admin port; resolves with the HTTP status, rejects after `timeoutMs`. */
function adminStatus(port: number, path: string, timeoutMs: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy(new Error(`${path} gave no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** How a process run by {@link runServiceToExit} ended. */
export interface ServiceExit {
  /** The exit code, null when a signal ended it. */
  readonly code: number | null;
  readonly stderr: string;
  /** Every JSON line it logged on stdout. */
  readonly logs: readonly Readonly<Record<string, unknown>>[];
}

/** Options of {@link runServiceToExit}. */
export interface RunServiceToExitOptions {
  /** Merged over the parent's environment and the test defaults, as for {@link startServiceProcess}. */
  readonly env?: Readonly<Record<string, string>>;
  /** Kill it, and fail, if it still runs after this long. @default 60_000 */
  readonly timeoutMs?: number;
}

/**
 * Runs `main` with the test environment (as {@link startServiceProcess}) plus `env` until it
 * exits by itself — for configurations it must refuse at start. Killed, as a failure, if it
 * has not exited within `timeoutMs`; never outlives the test process.
 */
export function runServiceToExit(main: string, options: RunServiceToExitOptions = {}): Promise<ServiceExit> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawnOwnedNode(main, { env: testEnv(options.env) });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${main} was still running after ${timeoutMs} ms (stderr: ${stderr.trim()})`));
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      const logs = stdout
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, stderr, logs });
    });
  });
}

/**
 * Polls `condition` every `intervalMs` until it holds; throws `message` if it still does not
 * after `timeoutMs`. For waiting on an observable state, never as a stand-in for one.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  message: string,
  { timeoutMs = 20_000, intervalMs = 50 }: { readonly timeoutMs?: number; readonly intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
