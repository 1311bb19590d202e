import type { DescService } from "@bufbuild/protobuf";
import type { Tracer } from "@opentelemetry/api";
import type { OpenMetricsContentType, Registry as MetricsRegistry } from "prom-client";
import { createClientMetrics } from "../client/client-metrics.js";
import { closeClient, createClient, type Client, type ClientOptions } from "../client/create-client.js";
import { readDiscoveryConfig, registryOptionsFrom, discoveryFor, serviceTarget, type DiscoveryConfig } from "../config/discovery-config.js";
import { readConfig, text, type Env } from "../config/env.js";
import { readServerConfig, serverOptionsFrom, type ServerConfig } from "../config/server-config.js";
import { createRegistryFromUrl } from "../discovery/create-registry.js";
import type { Registry } from "../discovery/registry.js";
import { registerWhileServing } from "../discovery/service-registration.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { createServer, type Server, type ServerOptions } from "../server/create-server.js";
import { readTelemetryConfig } from "../config/telemetry-config.js";
import { clientOptionsFrom, readClientConfig } from "../config/client-config.js";
import { readTlsConfig } from "../config/tls-config.js";
import { readAuthConfig } from "../config/auth-config.js";
import type { AuthorizationRules } from "../security/authorization.js";
import type { Authenticator } from "../security/jwt-authenticator.js";
import { startAuth, startTls } from "./security.js";
import { readRateLimitConfig, readSheddingConfig } from "../config/load-config.js";
import { startLoadProtection } from "./load-protection.js";
import { defaultServerInterceptors } from "../interceptors/default-chains.js";
import { startTelemetry } from "./telemetry.js";
import { routeGrpcLogs } from "./grpc-log.js";
import { announceListening, configOrExit, runMain } from "./process.js";
import { shutdownOnSignals } from "./signals.js";

/** What a service declares to {@link runService}. */
export interface ServiceSpec<C> {
  /** The service's name: in logs, its registration, and its one-line errors (`user: …`). */
  readonly name: string;
  /** Its default ports; `GRPC_PORT` and `ADMIN_PORT` override them. */
  readonly ports: { readonly grpc: number; readonly admin: number };
  /**
   * Reads the service's own variables (the kit reads the server's and
   * discovery's). Throw a ConfigError (the kit's readers do) for a bad value:
   * the process prints one line naming it and exits 2.
   * @default no variables of its own
   */
  readonly config?: (env: Env) => C;
  /**
   * Builds the service: opens its resources (handing each to `own`, which
   * closes them at shutdown), creates clients with `client`, and adds its
   * gRPC services to `server`. Resolves with fields for the one "listening"
   * log line (e.g. `{"db.system": "postgresql"}`). A failure here closes
   * what was opened and exits 1 with `<name>: failed to start: <reason>`.
   */
  readonly start: (runtime: ServiceRuntime<C>) => Promise<Readonly<Record<string, unknown>> | void>;
  /** Options for the server besides the ones the environment sets (interceptors, reflection…). @default {} */
  readonly server?: Omit<ServerOptions, "logger">;
  /**
   * Who may call each method (`defineRules`), enforced once bearer tokens
   * (`TRELLIS_AUTH_JWKS`) or client certificates (mTLS) are checked; a method
   * without a rule is then refused. @default none (every method refused once either is on)
   */
  readonly authorization?: readonly AuthorizationRules[];
}

/** What a service's `start` gets. */
export interface ServiceRuntime<C> {
  readonly name: string;
  readonly config: C;
  readonly serverConfig: ServerConfig;
  readonly discovery: DiscoveryConfig;
  readonly logger: Logger;
  /** The gRPC server; add services to it. It listens once `start` resolves. */
  readonly server: Server;
  /** The registry the service registers in and finds others through (`TRELLIS_REGISTRY`). */
  readonly registry: Registry;
  /** The bearer-token verifier when `TRELLIS_AUTH_JWKS` is set (for a front that verifies its own callers), else undefined. */
  readonly authenticator: Authenticator | undefined;
  /**
   * The process' Prometheus registry, served at /metrics: register the
   * service's own metrics here (its database's, its queues'). Undefined when
   * `TRELLIS_METRICS=off`: nothing is served, so measure nothing.
   */
  readonly metrics: MetricsRegistry<OpenMetricsContentType> | undefined;
  /**
   * The tracer when tracing is on (`OTEL_*`), for spans of the service's own
   * (its database calls): they join the call's trace as children of the
   * active span. Undefined when tracing is off: make no spans.
   */
  readonly tracer: Tracer | undefined;
  /**
   * Hands a resource to the lifecycle: at shutdown, after the server has
   * drained and deregistered, resources close in the reverse order they were
   * owned (a feed before the repository it reads). Returns the resource.
   */
  own<T>(resource: T, close: (resource: T) => Promise<void> | void): T;
  /**
   * A client for another service of the system, with the default resilience
   * chain, found through the registry: target `<NAME>_SERVICE_TARGET` if set,
   * else the registry's (`etcd:///user`, `static:///user`, or for DNS
   * `trellis-dns:///user:<defaultPort>`). Closed at shutdown. With metrics
   * on, its breakers, retries, balancer picks and registry sets are exported
   * (`trellis_breaker_*`, `trellis_retry_*`, `trellis_balancer_picks_total`,
   * `trellis_registry_instances`).
   */
  client<S extends DescService>(service: S, name: string, options?: ClientOptions & { readonly defaultPort?: number }): Client<S>;
}

/** Injection points of {@link runService}, for tests. */
export interface RunServiceOptions {
  /** @default process.env */
  readonly env?: Env;
}

/**
 * Runs a service process (Kratos' `app.Run`): reads and validates its
 * configuration (a bad value: one line, exit 2), creates the logger, the
 * registry and the server, lets `start` build the service, listens, registers
 * once SERVING, logs one "listening" line, and on SIGTERM/SIGINT shuts down in
 * order — health NOT_SERVING, deregister, drain (the server's shutdown), then
 * every owned resource in reverse order, the registry last — and exits 0. A
 * second signal exits at once (130). `main.ts` only declares its resources.
 */
export function runService<C = undefined>(spec: ServiceSpec<C>, options: RunServiceOptions = {}): void {
  const env = options.env ?? process.env;
  const config = configOrExit(spec.name, () => ({
    server: readServerConfig({ grpcPort: spec.ports.grpc, adminPort: spec.ports.admin }, env),
    discovery: readDiscoveryConfig(env),
    own: (spec.config?.(env) ?? undefined) as C,
    telemetry: readTelemetryConfig(env),
    client: readClientConfig(env),
    tls: readTlsConfig(spec.name, env),
    auth: readAuthConfig(env),
    rateLimit: readRateLimitConfig(env),
    shedding: readSheddingConfig(env),
  }));
  const logger = createLogger({ level: config.server.logLevel, serviceName: spec.name, format: config.telemetry.logFormat });
  routeGrpcLogs(logger);
  const owned: { readonly close: () => Promise<void> | void; readonly what: string }[] = [];
  const own = <T>(resource: T, close: (resource: T) => Promise<void> | void, what = "resource"): T => {
    owned.push({ close: () => close(resource), what });
    return resource;
  };
  // Made in runMain once telemetry is up (its SDK loads asynchronously).
  let server: Server | undefined;
  // Where each client this service made goes, for the "listening" line.
  const targets: [name: string, target: string][] = [];
  const closeOwned = async (): Promise<void> => {
    for (const { close, what } of owned.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        logger.error({ error }, `closing ${what} failed`);
      }
    }
  };
  // Installed before anything listens: a SIGTERM that arrives before a handler
  // exists would kill the process outright instead of draining it.
  shutdownOnSignals(
    async () => {
      await server?.shutdown();
      await closeOwned();
    },
    { logger },
  );
  runMain(spec.name, async () => {
    try {
      const telemetry = own(await startTelemetry(config.telemetry, { serviceName: spec.name, logger }), (t) => t.shutdown(), "telemetry");
      const tls = own(
        await startTls(config.tls, { serviceName: spec.name, logger, metrics: config.telemetry.metrics ? telemetry.registry : undefined }),
        (t) => t.close(),
        "TLS files",
      );
      const auth = startAuth(config.auth, {
        logger,
        metrics: config.telemetry.metrics ? telemetry.registry : undefined,
        rules: spec.authorization ?? [],
        mtls: tls.server !== undefined && tls.server.clientAuth !== "none",
      });
      // Rate limits count verified callers, so they run after authentication and before authorization.
      const protection = own(
        startLoadProtection(config.rateLimit, config.shedding, {
          logger,
          metrics: config.telemetry.metrics ? telemetry.registry : undefined,
        }),
        (p) => p.close(),
        "rate limits and shedding",
      );
      const created = createServer({
        interceptors: [
          ...telemetry.interceptors,
          ...defaultServerInterceptors({
            logger,
            logSuccessSampleRate: config.telemetry.logSuccessSampleRate,
            traceIds: telemetry.tracer !== undefined,
            guards: [...auth.authentication, ...(protection.rateLimit === undefined ? [] : [protection.rateLimit]), ...auth.authorization],
          }),
        ],
        grpcMetrics: telemetry.grpc,
        ...(tls.server === undefined ? {} : { tls: tls.server }),
        ...(protection.shedding === undefined ? {} : { shedding: protection.shedding }),
        ...spec.server,
        logger,
        ...serverOptionsFrom(config.server),
      });
      server = created;
      if (config.telemetry.metrics) {
        created.admin.route("/metrics", async (_request, response) => {
          const body = await telemetry.registry.metrics();
          response.writeHead(200, { "content-type": telemetry.registry.contentType });
          response.end(body);
        });
      }
      const clientMetrics = config.telemetry.metrics ? createClientMetrics(telemetry.registry) : undefined;
      const registry = own(
        await createRegistryFromUrl(config.discovery.registryUrl, registryOptionsFrom(config.discovery)),
        (r) => r.close(),
        "registry",
      );
      const runtime: ServiceRuntime<C> = {
        name: spec.name,
        config: config.own,
        serverConfig: config.server,
        discovery: config.discovery,
        logger,
        server: created,
        registry,
        authenticator: auth.authenticator,
        metrics: config.telemetry.metrics ? telemetry.registry : undefined,
        tracer: telemetry.tracer,
        own: (resource, close) => own(resource, close),
        client: (service, name, clientOptions = {}) => {
          const fallback =
            config.discovery.registry.kind === "dns" && clientOptions.defaultPort === undefined
              ? `trellis-dns:///${name}` // a DNS name without a port asks SRV for it
              : serviceTarget(config.discovery, name, clientOptions.defaultPort ?? 0);
          const target = clientTarget(env, spec.name, name, fallback);
          const credentials = tls.clientCredentials(name);
          const client = createClient(service, target, {
            discovery: discoveryFor(target, registry, config.discovery),
            logger,
            // TRELLIS_CLIENT_RESILIENCE=off (in a mesh): the service's own options still win.
            ...clientOptionsFrom(config.client),
            ...(credentials === undefined ? {} : { credentials }),
            ...(clientMetrics === undefined ? {} : { metrics: clientMetrics }),
            ...clientOptions,
            interceptors: [...telemetry.interceptors, ...auth.clientInterceptors, ...(clientOptions.interceptors ?? [])],
          });
          targets.push([name, target]);
          return own(client, closeClient, `${name} client`);
        },
      };
      const fields = (await spec.start(runtime)) ?? {};
      const bound = await created.listen({ host: config.server.host, port: config.server.grpcPort, adminPort: config.server.adminPort });
      const instance = await registerWhileServing(created, {
        registry,
        service: spec.name,
        host: config.discovery.advertiseHost,
        port: bound.port,
      });
      const calls = targets.map(([name, target]) => `${name} at ${target}`).join(", ");
      announceListening(
        logger,
        spec.name,
        bound,
        {
          ...fields,
          ...Object.fromEntries(targets.map(([name, target]) => [`${name}_service.target`, target])),
          "registry.kind": config.discovery.registry.kind,
          "service.instance.id": instance.id,
          ...protection.describe,
          "tls.server":
            tls.server === undefined
              ? "off"
              : `on, client certificates ${tls.server.clientAuth === "require" ? "required" : tls.server.clientAuth === "request" ? "verified when sent" : "not asked"}`,
        },
        calls === "" ? "" : `; calls ${calls}`,
      );
    } catch (error) {
      await server?.shutdown().catch(() => undefined);
      await closeOwned();
      throw error;
    }
  });
}

/** `<NAME>_SERVICE_TARGET` (a gRPC target) if set, else `fallback`; a malformed one exits 2 naming it. */
function clientTarget(env: Env, service: string, name: string, fallback: string): string {
  const variable = `${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_SERVICE_TARGET`;
  const reader = text({
    default: fallback,
    pattern: /^[\w.+-]+:\/\/\/?\S*$|^[^\s/]+:\d+$/,
    expected: "a gRPC target such as etcd:///user or dns:///user:50051",
  });
  return configOrExit(service, () => readConfig({ [variable]: reader }, env)[variable] as string);
}
