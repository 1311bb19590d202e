import * as grpc from "@grpc/grpc-js";
import { format } from "node:util";
import type { Logger } from "../observability/logger.js";

/**
 * Sends grpc-js' own log output into the service's JSON logger at debug level
 * instead of raw lines on stderr: grpc-js writes one line per request header
 * it cannot carry, with the header's text — attacker-chosen, and a flood on a
 * hostile call. grpc-js keeps its logger process-wide, so this is for the
 * process owner (runService) to call, once.
 */
export function routeGrpcLogs(logger: Logger): void {
  const child = logger.child({ "log.logger": "grpc-js" });
  const write = (...args: unknown[]): void => child.debug(format(...args).slice(0, 1024));
  grpc.setLogger({ error: write, info: write, debug: write });
}
