import { spawn, type ChildProcess, type StdioNull, type StdioPipe } from "node:child_process";
import { Socket } from "node:net";
import { PARENT_WATCHDOG_ENV } from "./parent-watchdog-env.js";
import { onProcessEnd } from "./process-cleanup.js";

/** The preload that ends a child whose test process is gone. */
const WATCHDOG = new URL("./parent-watchdog.js", import.meta.url);
/** The child's descriptor for its end of the watchdog pipe (0-2 are stdio). */
const WATCHDOG_FD = 3;

/** Options of {@link spawnOwnedNode}. */
export interface OwnedNodeOptions {
  /** The child's whole environment. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Flags for `node` before the script, e.g. `--cpu-prof`. @default [] */
  readonly nodeArgs?: readonly string[];
  /** stdin, stdout, stderr. @default ["ignore", "pipe", "pipe"] */
  readonly stdio?: readonly [StdioNull | StdioPipe, StdioNull | StdioPipe, StdioNull | StdioPipe];
}

/**
 * Starts `node <script>` as a child that cannot outlive this (test) process: it is killed
 * when this process exits or gets SIGTERM/SIGINT/SIGHUP (the test runner's timeout sends
 * SIGTERM, which skips `after` hooks), and it kills itself when this process dies in a way
 * that runs nothing at all (SIGKILL), through a preloaded watchdog on an inherited pipe.
 * The script itself runs unchanged.
 */
export function spawnOwnedNode(script: string, options: OwnedNodeOptions = {}): ChildProcess {
  const [stdin, stdout, stderr] = options.stdio ?? ["ignore", "pipe", "pipe"];
  const child = spawn(process.execPath, ["--import", WATCHDOG.href, ...(options.nodeArgs ?? []), script], {
    env: { ...(options.env ?? process.env), [PARENT_WATCHDOG_ENV]: String(WATCHDOG_FD) },
    stdio: [stdin, stdout, stderr, "pipe"],
  });
  const release = onProcessEnd(() => child.kill("SIGKILL"));
  child.once("exit", release);
  child.once("error", release);
  const watchdogPipe = child.stdio[WATCHDOG_FD];
  if (watchdogPipe instanceof Socket) {
    // Held, never used: only its closing matters, and it must not keep this process alive.
    watchdogPipe.on("error", () => undefined);
    watchdogPipe.unref();
  }
  return child;
}
