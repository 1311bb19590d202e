import type * as grpc from "@grpc/grpc-js";
import type { Interceptor } from "../call/interceptor.js";
import type { AuthConfig } from "../config/auth-config.js";
import type { TlsConfig } from "../config/tls-config.js";
import { createAuthForwardingInterceptor, createAuthInterceptor } from "../security/auth-interceptor.js";
import { createAuthMetrics } from "../security/auth-metrics.js";
import { createAuthorizationInterceptor, type AuthorizationRules } from "../security/authorization.js";
import { createJwksKeys } from "../security/jwks.js";
import { createJwtAuthenticator, type Authenticator } from "../security/jwt-authenticator.js";
import type { MetricsRegistry } from "../observability/grpc-metrics.js";
import type { Logger } from "../observability/logger.js";
import { createClientCredentials } from "../security/client-credentials.js";
import { spiffeId } from "../security/spiffe-id.js";
import type { ServerTls } from "../security/tls-acceptor.js";
import { loadTlsFiles, type TlsFiles } from "../security/tls-files.js";
import { registerTlsMetrics } from "../security/tls-metrics.js";

/** A service's TLS, as runService sets it up from the environment. */
export interface ServiceTls {
  /** The server's TLS (undefined: plaintext). */
  readonly server: ServerTls | undefined;
  /** Credentials for a client of service `name` (undefined: plaintext). */
  clientCredentials(name: string): grpc.ChannelCredentials | undefined;
  /** The files in use, for logs and tests. */
  readonly files: { readonly server?: TlsFiles; readonly client?: TlsFiles };
  close(): void;
}

/**
 * Loads a service's certificates (a missing or inconsistent file fails the
 * start with one line naming it), watches them, and says whether the
 * service's own certificate names it (a warning otherwise: peers that check
 * SPIFFE IDs will refuse it).
 */
export async function startTls(
  config: TlsConfig | false,
  options: { readonly serviceName: string; readonly logger: Logger; readonly metrics: MetricsRegistry | undefined },
): Promise<ServiceTls> {
  if (config === false) return { server: undefined, clientCredentials: () => undefined, files: {}, close: () => undefined };
  const { logger } = options;
  const common = { checkIntervalMs: config.reloadMs, logger };
  const opened: TlsFiles[] = [];
  try {
    const server =
      config.server === undefined
        ? undefined
        : await loadTlsFiles({
            certFile: config.server.certFile,
            keyFile: config.server.keyFile,
            ...(config.server.caFile === undefined ? {} : { caFile: config.server.caFile }),
            names: { cert: config.names.cert, key: config.names.key, ca: config.names.ca },
            ...common,
          });
    if (server !== undefined) opened.push(server);
    const sameFiles =
      server !== undefined &&
      config.client !== undefined &&
      config.server !== undefined &&
      config.client.caFile === config.server.caFile &&
      config.client.certFile === config.server.certFile &&
      config.client.keyFile === config.server.keyFile;
    const client =
      config.client === undefined
        ? undefined
        : sameFiles
          ? server
          : await loadTlsFiles({
              caFile: config.client.caFile,
              ...(config.client.certFile === undefined ? {} : { certFile: config.client.certFile }),
              ...(config.client.keyFile === undefined ? {} : { keyFile: config.client.keyFile }),
              names: { cert: config.names.clientCert, key: config.names.clientKey, ca: config.names.clientCa },
              ...common,
            });
    if (client !== undefined && client !== server) opened.push(client);
    const own = (server ?? client)?.current();
    const expected = spiffeId(options.serviceName, { trustDomain: config.trustDomain, namespace: config.namespace });
    if (own?.cert !== undefined && own.identity?.spiffeId !== expected) {
      logger.warn(
        { "event.action": "tls-identity", "tls.identity": own.identity?.spiffeId },
        `this service's certificate names ${own.identity?.spiffeId ?? "no SPIFFE identity"}, not ${expected}: peers checking identities will refuse it`,
      );
    }
    const onHandshake =
      options.metrics === undefined
        ? undefined
        : registerTlsMetrics(options.metrics, { ...(server ? { server } : {}), ...(client ? { client } : {}) });
    return {
      server:
        server === undefined || config.server === undefined
          ? undefined
          : {
              files: server,
              clientAuth: config.server.clientAuth,
              trustDomain: config.trustDomain,
              handshakeTimeoutMs: config.handshakeTimeoutMs,
              ...(onHandshake === undefined ? {} : { onHandshake }),
            },
      clientCredentials: (name) =>
        client === undefined
          ? undefined
          : createClientCredentials({
              files: client,
              ...(config.verifyServer === "spiffe"
                ? { serverIdentity: spiffeId(name, { trustDomain: config.trustDomain, namespace: config.namespace }) }
                : {}),
            }),
      files: { ...(server ? { server } : {}), ...(client ? { client } : {}) },
      close: () => {
        for (const files of opened) files.close();
      },
    };
  } catch (error) {
    for (const files of opened) files.close();
    throw error;
  }
}

/** A service's authentication and authorization, as runService sets them up. */
export interface ServiceAuth {
  /** The bearer-token verifier when TRELLIS_AUTH_JWKS is set (the edge verifies its callers with it). */
  readonly authenticator: Authenticator | undefined;
  /** Server interceptors, in order: authentication, then authorization. */
  readonly interceptors: readonly Interceptor[];
  /** The authentication link alone (empty when tokens are off), for a chain with links between the two (rate limits). */
  readonly authentication: readonly Interceptor[];
  /** The authorization link alone (empty when neither tokens nor mTLS are on). */
  readonly authorization: readonly Interceptor[];
  /** Client interceptors: the caller's bearer token passed on. */
  readonly clientInterceptors: readonly Interceptor[];
}

/**
 * Authentication (when configured) and authorization (when authentication or
 * mTLS is on: the service's rules, default deny). A service that declared no
 * rules gets every method refused once either is on — and a warning at start.
 */
export function startAuth(
  config: AuthConfig | false,
  options: {
    readonly logger: Logger;
    readonly metrics: MetricsRegistry | undefined;
    readonly rules: readonly AuthorizationRules[];
    /** The server verifies client certificates. */
    readonly mtls: boolean;
    readonly now?: () => number;
  },
): ServiceAuth {
  const metrics = options.metrics === undefined ? undefined : createAuthMetrics(options.metrics);
  const authenticator =
    config === false
      ? undefined
      : createJwtAuthenticator({
          keys: createJwksKeys({
            location: config.jwks,
            cooldownMs: config.cooldownMs,
            maxAgeMs: config.maxAgeMs,
            timeoutMs: config.timeoutMs,
            logger: options.logger,
            ...(metrics === undefined ? {} : { onRefresh: metrics.jwksRefreshed }),
          }).getKey,
          issuer: config.issuer,
          audience: config.audience,
          algorithms: config.algorithms,
          clockToleranceS: config.clockToleranceS,
          rolesClaim: config.rolesClaim,
        });
  const authentication: Interceptor[] = [];
  const authorization: Interceptor[] = [];
  if (authenticator !== undefined)
    authentication.push(createAuthInterceptor({ authenticator, ...(metrics === undefined ? {} : { onFailure: metrics.failed }) }));
  if (authenticator !== undefined || options.mtls) {
    if (options.rules.length === 0)
      options.logger.warn(
        { "event.action": "authorization" },
        "authentication is on and this service declares no authorization rules: every method is refused",
      );
    authorization.push(
      createAuthorizationInterceptor({
        rules: options.rules,
        checkPeers: options.mtls,
        checkUsers: authenticator !== undefined,
        ...(metrics === undefined ? {} : { onDenied: metrics.denied }),
      }),
    );
  }
  return {
    authenticator,
    interceptors: [...authentication, ...authorization],
    authentication,
    authorization,
    clientInterceptors: authenticator === undefined ? [] : [createAuthForwardingInterceptor()],
  };
}
