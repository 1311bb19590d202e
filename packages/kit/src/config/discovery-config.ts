import { parseRegistryUrl, type RegistryUrl } from "../discovery/create-registry.js";
import { parseStaticConfig } from "../discovery/static-registry.js";
import { ConfigError, readConfig, text, type Env } from "./env.js";

/** The default static service map for running everything on one machine. */
export const LOCAL_SERVICES = "user=127.0.0.1:50051;chat=127.0.0.1:50052";

/** Discovery settings every Trellis service reads. */
export interface DiscoveryConfig {
  /** The raw `TRELLIS_REGISTRY` value. */
  readonly registryUrl: string;
  readonly registry: RegistryUrl;
  /** `TRELLIS_STATIC_SERVICES`, parsed (used with `TRELLIS_REGISTRY=static`). */
  readonly staticServices: Readonly<Record<string, readonly string[]>>;
  /** The host this instance registers (`TRELLIS_ADVERTISE_HOST`). */
  readonly advertiseHost: string;
}

/**
 * Reads `TRELLIS_REGISTRY` (@default "static"), `TRELLIS_STATIC_SERVICES`
 * (@default LOCAL_SERVICES) and `TRELLIS_ADVERTISE_HOST` (@default "127.0.0.1";
 * set it to the pod IP in Kubernetes). Throws ConfigError with one line.
 */
export function readDiscoveryConfig(env: Env = process.env): DiscoveryConfig {
  const raw = readConfig(
    {
      TRELLIS_REGISTRY: text({ default: "static" }),
      TRELLIS_STATIC_SERVICES: text({ default: LOCAL_SERVICES }),
      TRELLIS_ADVERTISE_HOST: text({ default: "127.0.0.1", pattern: /^[\w.:-]+$/, expected: "a host name or IP address" }),
    },
    env,
  );
  const wrap = <T>(variable: string, parse: () => T): T => {
    try {
      return parse();
    } catch (error) {
      throw new ConfigError(variable, (error as Error).message);
    }
  };
  return {
    registryUrl: raw.TRELLIS_REGISTRY,
    registry: wrap("TRELLIS_REGISTRY", () => parseRegistryUrl(raw.TRELLIS_REGISTRY)),
    staticServices: wrap("TRELLIS_STATIC_SERVICES", () => parseStaticConfig(raw.TRELLIS_STATIC_SERVICES)),
    advertiseHost: raw.TRELLIS_ADVERTISE_HOST,
  };
}

/**
 * The gRPC target for calling `service` through the configured registry:
 * `static:///user`, `etcd:///user`, `consul:///user`, or for DNS
 * `trellis-dns:///user:<port>` (set the real DNS name through the service's
 * `<NAME>_SERVICE_TARGET` variable in Kubernetes).
 */
export function serviceTarget(config: DiscoveryConfig, service: string, defaultPort: number): string {
  switch (config.registry.kind) {
    case "dns":
      return `trellis-dns:///${service}:${defaultPort}`;
    default:
      return `${config.registry.kind}:///${service}`;
  }
}
