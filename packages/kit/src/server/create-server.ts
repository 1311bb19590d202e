import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { createGuardMetrics } from "./guard-metrics.js";
import type { GrpcMetrics } from "../observability/grpc-metrics.js";
import type { ServerHttp2Session } from "node:http2";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { Code, RpcError } from "../errors/rpc-error.js";
import type { Interceptor } from "../call/interceptor.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { createAdminServer, type AdminServer } from "./admin-server.js";
import { bindService } from "./bind-service.js";
import { createCallTracker } from "./call-tracker.js";
import { createCodecCache } from "../codec/index.js";
import { defaultServerInterceptors } from "../interceptors/default-chains.js";
import { createHealth, type HealthStatus } from "./health.js";
import { addReflection, type AddService } from "./reflection.js";
import { createConnectionGuard, type ConnectionGuardStats } from "./connection-guard.js";
import { createInjectedServer, http2StreamOf } from "./grpc-internals.js";
import { createTlsAcceptor, peerIdentityOfSocket, type ServerTls, type TlsAcceptor } from "../security/tls-acceptor.js";
import { defaultServerLimits, type ServerLimits } from "./server-limits.js";
import { createCallGuard } from "./call-guard.js";
import type { LoadShedder } from "../resilience/load-shedder.js";
import type { ServiceImpl } from "./service-impl.js";

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** @default createLogger() (JSON lines on stdout) */
  readonly logger?: Logger;
  /** The interceptor chain, outermost first. @default defaultServerInterceptors() */
  readonly interceptors?: readonly Interceptor[];
  /** Larger requests are refused with RESOURCE_EXHAUSTED. @default 4 MiB */
  readonly maxReceiveMessageBytes?: number;
  /** @default 4 MiB */
  readonly maxSendMessageBytes?: number;
  /** Serve grpc.reflection v1 and v1alpha. @default true */
  readonly reflection?: boolean;
  /**
   * After a shutdown starts, how long to keep accepting calls while health
   * reports NOT_SERVING, so load balancers and registries stop routing here
   * before the listener closes. @default 0
   */
  readonly shutdownDelayMs?: number;
  /** How long in-flight calls may take to finish before they are cancelled. @default 10_000 */
  readonly shutdownGraceMs?: number;
  /**
   * The longest a single-response call (unary, client streaming) may run on this
   * server, whatever deadline the client sent (or none), so a forgotten
   * deadline cannot pin a handler for ever; it then fails with
   * DEADLINE_EXCEEDED. Response streams are subscriptions and are not capped.
   * Enforced to within a quarter second. 0 disables. @default 30_000
   */
  readonly maxCallMs?: number;
  /**
   * Run handlers inside an AsyncLocalStorage call context, so clients called
   * from a handler inherit its deadline and cancellation without being passed
   * `{ parent: context }`. Off by default: on Node 20 AsyncLocalStorage puts a
   * hook on every promise of the process, measured at ~6 µs of a ~55 µs call.
   * @default false
   */
  readonly implicitCallContext?: boolean;
  /**
   * What one client may take from the server: connections, streams, calls,
   * resets, pings, time to send a request, time not reading a response.
   * @default defaultServerLimits()
   */
  readonly limits?: Partial<ServerLimits>;
  /**
   * Where calls the server answers before the interceptor chain runs are
   * counted (unknown methods, as `grpc_method="unknown"`; calls refused by a
   * limit): go-grpc-prometheus' server families. The chain's metrics
   * interceptor counts the rest. @default none
   */
  readonly grpcMetrics?: GrpcMetrics;
  /** The server's clock (call caps, deadlines, the guards' windows), epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Extra grpc-js server options; they override the ones the limits set. @default {} */
  readonly grpcOptions?: grpc.ServerOptions;
  /**
   * Serve TLS, or mTLS, on the gRPC port: the kit handshakes each admitted
   * connection with the certificates current at that moment (reloaded from
   * their files without a restart), and each call on an mTLS connection
   * carries the client's SPIFFE identity (`peerIdentityKey`).
   * @default plaintext
   */
  readonly tls?: ServerTls;
  /**
   * Shed calls when the process is overloaded (createLoadShedder): a shed
   * call is answered UNAVAILABLE with google.rpc.RetryInfo on its HTTP/2
   * stream before grpc-js decodes it or any handler runs. Health checks and
   * reflection are never shed. @default no shedding
   */
  readonly shedding?: ServerShedding;
}

/** Load shedding, as {@link ServerOptions.shedding} takes it. */
export interface ServerShedding {
  readonly shedder: LoadShedder;
  /** The RetryInfo delay shed calls are given. @default 1000 */
  readonly retryAfterMs?: number;
  /** Told of each shed call, with its path (metrics, logs). @default none */
  readonly onShed?: (path: string) => void;
}

/** Where a started server listens. */
export interface ListenAddress {
  /** @default "0.0.0.0" */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The admin HTTP port (0 picks a free one); omit for no admin server. */
  readonly adminPort?: number;
}

/** The ports a started server got. */
export interface BoundPorts {
  readonly host: string;
  readonly port: number;
  readonly adminPort: number | undefined;
}

/** A Trellis gRPC server. */
export interface Server {
  /** Registers a generated service with its handlers. Call before `listen`. */
  addService<S extends DescService>(service: S, impl: ServiceImpl<S>): void;
  /** Binds the ports, starts serving, and reports SERVING. */
  listen(address: ListenAddress): Promise<BoundPorts>;
  /** grpc.health.v1 state, for services whose readiness depends on more than the process. */
  readonly health: HealthStatus;
  /** The admin HTTP server, to add routes such as `/metrics`. */
  readonly admin: AdminServer;
  /**
   * Runs `hook` when a shutdown starts, after health turns NOT_SERVING and
   * before the listener closes (for example, to deregister from discovery).
   */
  onShutdown(hook: () => Promise<void> | void): void;
  /**
   * The ordered shutdown: NOT_SERVING → shutdown hooks → shutdownDelayMs →
   * stop accepting and end response streams (UNAVAILABLE, clients reconnect)
   * → drain in-flight calls up to shutdownGraceMs → cancel the rest → close.
   * Idempotent: every caller gets the same promise.
   */
  shutdown(): Promise<void>;
  /** The number of calls in progress. */
  readonly inFlight: number;
  /** What the connection guard has refused and closed so far. */
  readonly connectionStats: ConnectionGuardStats;
  /** The underlying grpc-js server, for what the kit does not cover. */
  readonly grpcServer: grpc.Server;
}

const FOUR_MIB = 4 * 1024 * 1024;

/**
 * Creates a gRPC server on grpc-js with the kit's interceptor chain, health,
 * reflection, an admin HTTP port and an ordered graceful shutdown.
 */
export function createServer(options: ServerOptions = {}): Server {
  const logger = options.logger ?? createLogger();
  const interceptors = options.interceptors ?? defaultServerInterceptors({ logger });
  const limits: ServerLimits = { ...defaultServerLimits(), ...options.limits };
  const now = options.now ?? Date.now;
  // Paths of the methods that take one request message (unary, server streaming).
  const singleRequestPaths = new Set<string>([
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.health.v1.Health/List",
  ]);
  // Every served method by path, for the calls answered before the chain.
  const methodsByPath = new Map<string, DescMethod>();
  const shedding = options.shedding;
  const callGuard = createCallGuard({
    limits,
    singleRequest: (path) => singleRequestPaths.has(path),
    serves: (path) => methodsByPath.has(path) || path.startsWith("/grpc.health.v1.Health/"),
    now,
    ...(options.grpcMetrics === undefined ? {} : { observer: createGuardMetrics(options.grpcMetrics, (path) => methodsByPath.get(path)) }),
    ...(shedding === undefined
      ? {}
      : {
          shedding: {
            shedder: shedding.shedder,
            exemptPrefixes: ["/grpc.health.v1.Health/", "/grpc.reflection."],
            timed: (path: string) => {
              const kind = methodsByPath.get(path)?.methodKind;
              return kind === "unary" || kind === "client_streaming";
            },
            retryAfterMs: shedding.retryAfterMs ?? 1000,
            ...(shedding.onShed === undefined ? {} : { onShed: shedding.onShed }),
          },
        }),
  });
  const guard = createConnectionGuard({ limits, logger, streams: callGuard, now });
  const grpcServer = new grpc.Server({
    "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? FOUR_MIB,
    "grpc.max_send_message_length": options.maxSendMessageBytes ?? FOUR_MIB,
    ...grpcLimitOptions(limits),
    ...options.grpcOptions,
  });
  const health = createHealth(grpcServer);
  const calls = createCallTracker();
  const maxCallMs = options.maxCallMs ?? 30_000;
  // One sweep for every call's time limits instead of a timer per call.
  const sweeper = setInterval(() => {
    const at = now();
    calls.sweep(at);
    callGuard.sweep(at);
  }, 250);
  sweeper.unref();
  const listeners: TcpServer[] = [];
  const codecs = createCodecCache();
  const services: DescService[] = [];
  const shutdownHooks: (() => Promise<void> | void)[] = [];
  let serving = false;
  let shuttingDown: Promise<void> | undefined;
  let tlsAcceptor: TlsAcceptor | undefined;
  const admin = createAdminServer({ ready: () => serving && shuttingDown === undefined });

  const shutdown = async (): Promise<void> => {
    logger.info({ "event.action": "shutdown-start", "calls.in_flight": calls.size }, "shutting down");
    serving = false;
    health.setAll("NOT_SERVING");
    for (const hook of shutdownHooks) {
      try {
        await hook();
      } catch (error) {
        logger.error({ error }, "shutdown hook failed");
      }
    }
    await sleep(options.shutdownDelayMs ?? 0);
    for (const listener of listeners) listener.close();
    const goingAway = new RpcError(Code.UNAVAILABLE, "server is shutting down; reconnect to another instance");
    calls.abortAll(goingAway, (call) => call.method.methodKind === "server_streaming" || call.method.methodKind === "bidi_streaming");
    const drained = new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
    const graceMs = options.shutdownGraceMs ?? 10_000;
    const outcome = await Promise.race([drained.then(() => "drained" as const), sleep(graceMs).then(() => "timeout" as const)]);
    if (outcome === "timeout") {
      logger.warn({ "calls.in_flight": calls.size }, `calls still running after ${graceMs} ms; cancelling them`);
      calls.abortAll(goingAway);
      await calls.idle();
      grpcServer.forceShutdown();
    }
    await admin.close();
    tlsAcceptor?.close();
    clearInterval(sweeper);
    logger.info({ "event.action": "shutdown-complete", "event.outcome": outcome }, "shutdown complete");
  };

  const bind: AddService = (service, impl) => {
    for (const method of service.methods) methodsByPath.set(`/${service.typeName}/${method.name}`, method);
    bindService(grpcServer, service, impl as unknown as Record<string, never>, {
      interceptors,
      logger,
      calls,
      codecs,
      maxCallMs,
      maxWriteStallMs: limits.maxWriteStallMs,
      now,
      implicitCallContext: options.implicitCallContext ?? false,
      ...(options.tls === undefined ? {} : { peerIdentity: (call: object) => peerIdentityOfSocket(http2StreamOf(call)?.session?.socket) }),
    });
  };

  return {
    addService(service, impl) {
      if (serving) throw new Error(`addService(${service.typeName}) after listen()`);
      bind(service, impl);
      services.push(service);
      for (const method of service.methods) {
        if (method.methodKind === "unary" || method.methodKind === "server_streaming")
          singleRequestPaths.add(`/${service.typeName}/${method.name}`);
      }
      health.set(service.typeName, "NOT_SERVING");
    },
    async listen(address) {
      if (options.reflection ?? true) addReflection(bind, services);
      const host = address.host ?? "0.0.0.0";
      // The kit owns the TCP listener and hands grpc-js only the connections it admits.
      const injected = createInjectedServer(grpcServer, grpc.ServerCredentials.createInsecure());
      injected.http2Server.on("session", (session: ServerHttp2Session) => guard.watch(session));
      // With TLS, admitted connections are handshaken first and grpc-js gets the TLS socket.
      const acceptor = options.tls === undefined ? undefined : createTlsAcceptor(options.tls, logger, (socket) => injected.inject(socket));
      tlsAcceptor = acceptor;
      const listener = createTcpServer({ noDelay: true }, (socket) => {
        if (!guard.admit(socket)) return;
        if (acceptor === undefined) injected.inject(socket);
        else acceptor.accept(socket);
      });
      const port = await new Promise<number>((resolve, reject) => {
        listener.once("error", (error) => reject(new Error(`cannot listen on ${host}:${address.port}: ${error.message}`)));
        listener.listen(address.port, host, () => {
          const bound = listener.address();
          resolve(typeof bound === "object" && bound !== null ? bound.port : address.port);
        });
      });
      listener.on("error", (error) => logger.error({ error }, "gRPC listener failed"));
      listeners.push(listener);
      let adminPort: number | undefined;
      if (address.adminPort !== undefined) {
        try {
          adminPort = await admin.listen(host, address.adminPort);
        } catch (error) {
          listener.close();
          grpcServer.forceShutdown();
          throw new Error(`cannot listen on admin port ${host}:${address.adminPort}: ${(error as Error).message}`);
        }
      }
      serving = true;
      health.setAll("SERVING");
      return { host, port, adminPort };
    },
    health,
    admin,
    onShutdown: (hook) => void shutdownHooks.push(hook),
    shutdown: () => (shuttingDown ??= shutdown()),
    get inFlight() {
      return calls.size;
    },
    connectionStats: guard.stats,
    grpcServer,
  };
}

/** The grpc-js options that carry the limits grpc-js enforces itself (0: leave grpc-js' "never"). */
function grpcLimitOptions(limits: ServerLimits): grpc.ServerOptions {
  const positive = (value: number): number | undefined => (value > 0 ? value : undefined);
  const entries: [string, number | undefined][] = [
    ["grpc.max_concurrent_streams", positive(limits.maxConcurrentStreams)],
    ["grpc.keepalive_time_ms", positive(limits.keepaliveTimeMs)],
    ["grpc.keepalive_timeout_ms", positive(limits.keepaliveTimeoutMs)],
    ["grpc.max_connection_idle_ms", positive(limits.idleTimeoutMs)],
    ["grpc.max_connection_age_ms", positive(limits.maxConnectionAgeMs)],
    ["grpc.max_connection_age_grace_ms", positive(limits.maxConnectionAgeGraceMs)],
  ];
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined));
}

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
