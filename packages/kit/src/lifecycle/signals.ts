import type { Logger } from "../observability/logger.js";

/** Options of {@link shutdownOnSignals}. */
export interface ShutdownOnSignalsOptions {
  readonly logger: Logger;
  /** @default ["SIGTERM", "SIGINT"] */
  readonly signals?: readonly NodeJS.Signals[];
  /** @default process.exit */
  readonly exit?: (code: number) => void;
  /** @default process */
  readonly process?: Pick<NodeJS.Process, "on">;
}

/**
 * On the first SIGTERM/SIGINT runs `shutdown` and exits 0 when it completes
 * (1 if it fails); a second signal exits at once with 130.
 */
export function shutdownOnSignals(shutdown: () => Promise<void>, options: ShutdownOnSignalsOptions): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const target = options.process ?? process;
  let received = false;
  for (const signal of options.signals ?? ["SIGTERM", "SIGINT"]) {
    target.on(signal, () => {
      if (received) {
        options.logger.warn({ "process.signal": signal }, "second signal: exiting now");
        exit(130);
        return;
      }
      received = true;
      options.logger.info({ "process.signal": signal }, "signal received: shutting down");
      shutdown().then(
        () => exit(0),
        (error: unknown) => {
          options.logger.error({ error }, "shutdown failed");
          exit(1);
        },
      );
    });
  }
}
