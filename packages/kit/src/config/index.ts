/**
 * Configuration from the environment, validated at start: typed readers whose
 * errors are one line naming the variable, and the variables every server reads.
 */
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
} from "./env.js";
export { readServerConfig, readServerLimits, serverOptionsFrom, LIMIT_VARIABLES, LOG_LEVELS, type ServerConfig } from "./server-config.js";
export { readDiscoveryConfig, registryOptionsFrom, discoveryFor, serviceTarget, type DiscoveryConfig } from "./discovery-config.js";
export { readTelemetryConfig, TRACE_SAMPLERS, type TelemetryConfig } from "./telemetry-config.js";
export { readClientConfig, clientOptionsFrom, MESH_CLIENT_RESILIENCE, type ClientConfig } from "./client-config.js";
export { readTlsConfig, type TlsConfig } from "./tls-config.js";
export { readRateLimitConfig, readSheddingConfig, type RateLimitConfig, type SheddingConfig } from "./load-config.js";
export { readAuthConfig, type AuthConfig } from "./auth-config.js";
