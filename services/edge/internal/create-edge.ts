import type { Registry } from "prom-client";
import type { Logger } from "@trellis/kit";
import { createBackends, type BackendRoute, type Backends } from "./backends.js";
import { createCallGate, type CallGate } from "./call-gate.js";
import { createCorsPolicy } from "./cors.js";
import type { EdgeConfig } from "./edge-config.js";
import { createEdgeMetrics } from "./edge-metrics.js";
import { createEdgeServer, type EdgeServer } from "./edge-server.js";
import { createJsonCodec } from "./json-codec.js";
import { compileRestRoutes } from "./rest/http-rules.js";
import { createStaticFiles } from "./static-files.js";

/** What {@link createEdge} is made from. */
export interface EdgeOptions {
  /** The routed services and their kit clients (made with the `captureContext` interceptor). */
  readonly routes: readonly BackendRoute[];
  /** The edge's settings (readEdgeConfig); `webDir` must be resolved. */
  readonly config: Omit<EdgeConfig, "webDir" | "routes" | "httpPort"> & { readonly webDir: string };
  readonly logger: Logger;
  /** Where the edge's counters go. @default not counted */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- either of prom-client's content types
  readonly metrics?: Registry<any> | undefined;
}

/** The edge's HTTP server and what it routes to. */
export interface Edge extends EdgeServer {
  readonly backends: Backends;
  /** Calls and response streams in progress through the edge (what trellis_edge_calls_in_flight / _streams_open export). */
  readonly inFlight: Pick<CallGate, "calls" | "streams">;
}

/** Assembles the edge: routes, the JSON codec and REST rules of the routed services, CORS, the web app's files, limits. */
export function createEdge(options: EdgeOptions): Edge {
  const { config, logger } = options;
  const backends = createBackends(options.routes);
  const metrics = createEdgeMetrics(options.metrics);
  const gate = createCallGate(config.maxCalls, config.maxStreams, metrics.inFlight);
  const server = createEdgeServer({
    context: {
      backends,
      gate,
      metrics,
      logger,
      limits: {
        maxBodyBytes: config.maxBodyBytes,
        bodyTimeoutMs: config.bodyTimeoutMs,
        writeStallMs: config.writeStallMs,
        maxTimeoutMs: config.maxTimeoutMs,
      },
    },
    codec: createJsonCodec(backends.services),
    rest: compileRestRoutes(backends.services),
    cors: createCorsPolicy(config.corsOrigins),
    files: createStaticFiles({ root: config.webDir, csp: config.csp }),
    maxConnections: config.maxConnections,
    maxStreamsPerConnection: config.maxStreamsPerConnection,
    idleTimeoutMs: config.idleTimeoutMs,
  });
  return { ...server, backends, inFlight: gate };
}
