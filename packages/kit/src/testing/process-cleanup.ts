/**
 * Last-resort cleanup for a test process: what it must not leave behind (child processes,
 * temporary folders) is undone when the process exits or is told to stop.
 *
 * Why this is needed: node's test runner ends a test file whose `--test-timeout` fires with
 * SIGTERM, and a Node process that gets SIGTERM dies at once — no `after` hook, no `finally`,
 * no 'exit' event — so the service processes the file started kept running for an hour.
 */

/** Signals after which the process would die without running anything else. */
const FATAL_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

// Module state on purpose, the one registry of this kind: the handlers that run the cleanups
// ('exit' and the fatal signals) are process-wide, so what they clean up has to be too.
// Every caller's registration is removed again by the function it gets back.
const cleanups = new Set<() => void>();
let installed = false;

/**
 * Runs `cleanup` (synchronously) when this process exits, or when it gets SIGTERM, SIGINT
 * or SIGHUP — which would otherwise kill it without running `after` hooks or `finally`
 * blocks. After the cleanups, a signal nobody else listens to is re-raised, so the process
 * still dies of it. Returns a function that unregisters `cleanup` (call it once the
 * resource was released the normal way).
 */
export function onProcessEnd(cleanup: () => void): () => void {
  install();
  cleanups.add(cleanup);
  return () => void cleanups.delete(cleanup);
}

function runCleanups(): void {
  for (const cleanup of [...cleanups]) {
    cleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      // The process is going away: one failed cleanup must not stop the others.
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runCleanups);
  for (const signal of FATAL_SIGNALS) {
    const onSignal = (): void => {
      runCleanups();
      // Nobody else handles it: die of it, as the process would have without this handler.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}
