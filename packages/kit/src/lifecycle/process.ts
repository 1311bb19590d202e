import type { Logger } from "../observability/logger.js";
import type { BoundPorts } from "../server/create-server.js";
import { ConfigError } from "../config/env.js";

/**
 * Reads a service's configuration. A ConfigError prints one line
 * (`user: GRPC_PORT must be …`) to stderr and exits 2; no stack trace.
 */
export function configOrExit<T>(service: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${service}: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

/** Runs a service's `main`; a failure to start prints `<service>: failed to start: <reason>` and exits 1. */
export function runMain(service: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${service}: failed to start: ${message}\n`);
    process.exit(1);
  });
}

/** Logs the one "listening" line a service prints at start, with where to reach it. */
export function announceListening(
  logger: Logger,
  service: string,
  bound: BoundPorts,
  fields: Readonly<Record<string, unknown>>,
  suffix = "",
): void {
  const host = bound.host === "0.0.0.0" || bound.host === "::" ? "localhost" : bound.host;
  logger.info(
    { "server.address": bound.host, "server.port": bound.port, "admin.port": bound.adminPort, ...fields },
    `${service} service listening on ${host}:${bound.port} (gRPC), admin on http://${host}:${bound.adminPort}${suffix}`,
  );
}
