import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startService, type ServiceProcess } from "./service-process.js";

/** The two real processes under test: user, and chat calling user over the network. */
export interface FuzzStack {
  readonly user: ServiceProcess;
  readonly chat: ServiceProcess;
  /** Both processes, for checks that go over each. */
  readonly processes: readonly ServiceProcess[];
  /** SIGTERM both (chat first), SIGKILL what has not exited within a few seconds. */
  stop(): Promise<void>;
}

/** The server settings the fuzz runs with; everything else is the services' defaults. */
export const FUZZ_SERVER_ENV: Readonly<Record<string, string>> = {
  LOG_LEVEL: "info",
  // The server's own bounds, shortened so that the suite can wait for them: a
  // call whose request never completes, or that has no deadline, is ended
  // within 3 s (defaults 10 s and 30 s)…
  GRPC_REQUEST_TIMEOUT_MS: "3000",
  GRPC_MAX_CALL_MS: "3000",
  // …and a connection Node's HTTP/2 left for dead after a protocol error (see
  // the README's known issues) is found by the keepalive ping and closed
  // within 1.5 s (defaults 30 s + 10 s).
  GRPC_KEEPALIVE_TIME_MS: "500",
  GRPC_KEEPALIVE_TIMEOUT_MS: "1000",
  SHUTDOWN_GRACE_MS: "2000",
};

/** The longest a server may take to end a call on its own (no deadline, or a request that never completes). */
export const SERVER_CALL_BOUND_MS = 3000;
/** The longest a server may take to close a connection it has ended or the client has left. */
export const SERVER_CONNECTION_BOUND_MS = 1500;

const START_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 5_000;

function mainOf(service: "user" | "chat"): string {
  const path = fileURLToPath(new URL(`../../../services/${service}/dist/main.js`, import.meta.url));
  if (!existsSync(path)) throw new Error(`${path} does not exist: build first (npx tsc -b)`);
  return path;
}

/**
 * Starts user, then chat pointed at it. The processes are killed when this
 * process exits or is told to stop, whatever happens to the caller. With
 * `logDir`, each process' output is also kept in `<logDir>/<service>.log`.
 */
export async function startFuzzStack(logDir?: string): Promise<FuzzStack> {
  const started: ServiceProcess[] = [];
  const killAll = (): void => {
    for (const p of started) {
      if (p.exitStatus() === undefined) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    killAll();
    process.kill(process.pid, signal);
  };
  process.once("exit", killAll);
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const detach = (): void => {
    process.off("exit", killAll);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  };
  try {
    const logFile = (service: string): string | undefined => (logDir === undefined ? undefined : join(logDir, `${service}.log`));
    const user = await startService("user", mainOf("user"), FUZZ_SERVER_ENV, START_TIMEOUT_MS, logFile("user"));
    started.push(user);
    const chat = await startService(
      "chat",
      mainOf("chat"),
      { ...FUZZ_SERVER_ENV, USER_SERVICE_TARGET: user.address },
      START_TIMEOUT_MS,
      logFile("chat"),
    );
    started.push(chat);
    return {
      user,
      chat,
      processes: [user, chat],
      async stop() {
        await chat.stop(STOP_GRACE_MS);
        await user.stop(STOP_GRACE_MS);
        detach();
      },
    };
  } catch (error) {
    killAll();
    detach();
    throw error;
  }
}
