export * from "./errors/index.js";
export {
  chain,
  chainInterceptors,
  type Handler,
  type Middleware,
  type RpcResponse,
  observeStream,
  type Interceptor,
  type Next,
  type ServerRequest,
  type ServerResponse,
  type UnaryServerRequest,
  type StreamServerRequest,
} from "./interceptors/interceptor.js";
export { createRecoverInterceptor } from "./interceptors/recover.js";
export { createLoggingInterceptor, type LoggingInterceptorOptions } from "./interceptors/logging.js";
export { createValidationInterceptor } from "./interceptors/validation.js";
export { toRpcError, INTERNAL_ERROR_MESSAGE } from "./interceptors/to-rpc-error.js";
export { compileValidator, createValidatorCache, type Validator, type FieldViolation } from "./validation/index.js";
export { remainingMs, type CallContext } from "./server/call-context.js";
export {
  createServer,
  type Server,
  type ServerOptions,
  type ListenAddress,
  type BoundPorts,
} from "./server/create-server.js";
export { defaultServerInterceptors, type DefaultServerInterceptorOptions } from "./server/default-interceptors.js";
export type { ServiceImpl, MethodImpl } from "./server/service-impl.js";
export type { HealthStatus, ServingStatus } from "./server/health.js";
export type { AdminServer, AdminRoute } from "./server/admin-server.js";
export { shutdownOnSignals, type ShutdownOnSignalsOptions } from "./server/signals.js";
export type {
  ClientCallOptions,
  ClientInterceptor,
  ClientNext,
  ClientRequest,
  ClientResponse,
  UnaryClientRequest,
  StreamClientRequest,
} from "./interceptors/client-interceptor.js";
export { callContextStorage, currentCallContext } from "./server/call-context-storage.js";
export type { ServiceInstance, Registrar, Discovery, Registry as ServiceRegistry } from "./discovery/registry.js";
export { createClient, type Client, type ClientMethod, type ClientOptions, type CallOptions } from "./client/create-client.js";
export { createLogger, type Logger, type LoggerOptions } from "./observability/logger.js";
export { createCoalescingDestination, type CoalescingDestination, type CoalescingDestinationOptions } from "./observability/coalescing-destination.js";
export { encodePageToken, decodePageToken, invalidPageToken, type PageTokenPayload } from "./pagination/page-token.js";
export {
  ConfigError,
  readConfig,
  integer,
  port,
  oneOf,
  text,
  optionalUrl,
  type Env,
  type EnvReader,
  type ConfigSpec,
  type ConfigOf,
} from "./config/env.js";
export { readServerConfig, readServerLimits, serverOptionsFrom, LIMIT_VARIABLES, LOG_LEVELS, type ServerConfig } from "./config/server-config.js";
export { defaultServerLimits, openFileLimit, type ServerLimits } from "./server/server-limits.js";
export { compileCodec, createCodecCache, type Codec, type CodecCache } from "./codec/index.js";
export * from "./resilience/index.js";
export * from "./balancer/index.js";
export {
  registerTrellisResolvers,
  discoveryChannelOptions,
  parseAddressList,
  DISCOVERY_CHANNEL_OPTION,
  TRELLIS_RESOLVER_SCHEMES,
} from "./discovery/grpc-resolver.js";
export { registerWhileServing, type ServiceRegistrationOptions } from "./discovery/service-registration.js";
export { createRegistryFromUrl, parseRegistryUrl, type RegistryUrl, type RegistryFromUrlOptions } from "./discovery/create-registry.js";
export { createStaticRegistry, parseStaticConfig, parseStaticTarget } from "./discovery/static-registry.js";
export { createDnsDiscovery, parseDnsServers, type DnsDiscoveryOptions } from "./discovery/dns-discovery.js";
export { readDiscoveryConfig, registryOptionsFrom, discoveryFor, serviceTarget, LOCAL_SERVICES, type DiscoveryConfig } from "./config/discovery-config.js";
export { configOrExit, runMain, announceListening } from "./config/run-service.js";
