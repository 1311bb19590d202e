import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { request } from "node:http";
import { monitorLogs, type LogEntry, type LogMonitor } from "./log-monitor.js";

/** A service's real process (its built main.js), started on free loopback ports. */
export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  /** host:port of the gRPC listener. */
  readonly address: string;
  readonly port: number;
  readonly adminPort: number;
  readonly logs: LogMonitor;
  /** undefined while running, else how it ended. */
  exitStatus(): string | undefined;
  /** The HTTP status of GET /healthz on the admin port, or the error's message. */
  healthz(timeoutMs: number): Promise<number | string>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
  stop(graceMs: number): Promise<void>;
}

/**
 * Starts `node <main>` with `env` added to the environment, and waits for its
 * "listening" line; with `copyOutputTo`, everything it prints is also written to that file.
 */
export async function startService(
  name: string,
  main: string,
  env: Readonly<Record<string, string>>,
  startTimeoutMs: number,
  copyOutputTo?: string,
): Promise<ServiceProcess> {
  const child: ChildProcess = spawn(process.execPath, [main], {
    env: { ...process.env, GRPC_PORT: "0", ADMIN_PORT: "0", GRPC_HOST: "127.0.0.1", PGLITE_DATA_DIR: "memory://", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("close", (code, signal) => {
      exit = signal === null ? `exit code ${String(code)}` : `signal ${signal}`;
      resolve();
    }),
  );
  const logs = monitorLogs(name, child.stdout!, child.stderr!);
  if (copyOutputTo !== undefined) {
    const file = createWriteStream(copyOutputTo, { flags: "a" });
    child.stdout!.pipe(file, { end: false });
    child.stderr!.pipe(file, { end: false });
    child.once("close", () => file.end());
  }
  let listening: LogEntry;
  try {
    listening = await logs.waitForEntry(
      (entry) => typeof entry["server.port"] === "number" && typeof entry["admin.port"] === "number",
      startTimeoutMs,
    );
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    throw new Error(`${name} did not start (${exit ?? "still running"}): ${(error as Error).message}\n${logs.tail().join("\n")}`);
  }
  const port = listening["server.port"] as number;
  const adminPort = listening["admin.port"] as number;
  return {
    name,
    pid: child.pid!,
    address: `127.0.0.1:${port}`,
    port,
    adminPort,
    logs,
    exitStatus: () => exit,
    healthz: (timeoutMs) => getStatus(adminPort, "/healthz", timeoutMs),
    async stop(graceMs) {
      if (exit !== undefined) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function getStatus(port: number, path: string, timeoutMs: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? "no status"));
    });
    req.on("timeout", () => {
      req.destroy();
      resolve(`no answer within ${timeoutMs} ms`);
    });
    req.on("error", (error) => resolve(error.message));
    req.end();
  });
}
