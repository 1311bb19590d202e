/**
 * The edge process: the one public entry. Browsers and curl call it with
 * gRPC-Web, Connect or REST/JSON on EDGE_PORT (8080); it routes each call by
 * service name to the instances the registry knows, through the kit's
 * clients (balancing, breaker, deadlines, tracing), and serves the web app.
 * Its own gRPC port (GRPC_PORT, 50050) serves health and reflection only;
 * metrics and readiness are on the admin port (9090). The README's "edge".
 */
import { fileURLToPath } from "node:url";
import { runService } from "@trellis/kit";
import { ConfigError } from "@trellis/kit/config";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { captureContext } from "./internal/backends.js";
import { createEdgeAuthInterceptor } from "./internal/edge-auth.js";
import { createEdge } from "./internal/create-edge.js";
import { readEdgeConfig } from "./internal/edge-config.js";

/** The services the edge can route, with their registry names and default ports. */
const ROUTABLE = [
  { service: UserService, name: "user", defaultPort: 50051 },
  { service: ChatService, name: "chat", defaultPort: 50052 },
] as const;

runService({
  name: "edge",
  ports: { grpc: 50050, admin: 9090 },
  config: (env) => {
    const config = readEdgeConfig(env);
    for (const service of config.routes?.keys() ?? []) {
      if (!ROUTABLE.some((r) => r.service.typeName === service)) {
        throw new ConfigError(
          "EDGE_ROUTES",
          `EDGE_ROUTES names ${service}, which the edge has no contract for (it knows ${ROUTABLE.map((r) => r.service.typeName).join(", ")})`,
        );
      }
    }
    return config;
  },
  async start({ config, client, own, logger, metrics, serverConfig, authenticator }) {
    // With TRELLIS_AUTH_JWKS set, callers' bearer tokens are verified here, at the door, and passed on.
    const failures = metrics?.getSingleMetric("trellis_auth_failures_total") as { inc(labels: { reason: string }): void } | undefined;
    const edgeAuth =
      authenticator === undefined
        ? []
        : [
            createEdgeAuthInterceptor({
              authenticator,
              logger,
              ...(failures === undefined ? {} : { onFailure: (reason) => failures.inc({ reason }) }),
            }),
          ];
    const routes = ROUTABLE.filter((r) => config.routes === undefined || config.routes.has(r.service.typeName)).map((r) => ({
      service: r.service,
      client: client(r.service, config.routes?.get(r.service.typeName) ?? r.name, {
        defaultPort: r.defaultPort,
        interceptors: [...edgeAuth, captureContext],
      }),
    }));
    const webDir = config.webDir ?? fileURLToPath(new URL("../../../apps/web/dist/", import.meta.url));
    const server = createEdge({ routes, config: { ...config, webDir }, logger, metrics });
    const port = await server.listen(serverConfig.host, config.httpPort);
    // Owned after the clients: closed first at shutdown, while the backends still answer.
    own(server, (s) => s.close(5000));
    const host = serverConfig.host === "0.0.0.0" || serverConfig.host === "::" ? "localhost" : serverConfig.host;
    logger.info({ "edge.url": `http://${host}:${port}/`, "edge.web_dir": webDir }, `edge: web app and APIs at http://${host}:${port}/`);
    return { "http.port": port, "edge.url": `http://${host}:${port}/`, "edge.routes": routes.map((r) => r.service.typeName).join(",") };
  },
});
