/**
 * Security: TLS and mTLS with SPIFFE workload identities (certificate files
 * reloaded without a restart), bearer-token authentication against a JWKS,
 * per-method authorization rules, certificates for local and test use.
 */
export {
  peerIdentityKey,
  spiffeId,
  parseSpiffeId,
  identityOfCertificate,
  uriSans,
  DEFAULT_TRUST_DOMAIN,
  DEFAULT_NAMESPACE,
  type PeerIdentity,
} from "./spiffe-id.js";
export { loadTlsFiles, type TlsFiles, type TlsFilesOptions, type TlsFilePaths, type TlsMaterial } from "./tls-files.js";
export {
  createTlsAcceptor,
  peerIdentityOfSocket,
  type ServerTls,
  type ClientAuth,
  type HandshakeOutcome,
  type TlsAcceptor,
} from "./tls-acceptor.js";
export { createClientCredentials, type ClientCredentialsOptions } from "./client-credentials.js";
export { registerTlsMetrics } from "./tls-metrics.js";
export {
  createCertificateAuthority,
  issueCertificate,
  type KeyPairPem,
  type CertificateAuthorityOptions,
  type IssueOptions,
} from "./certificates.js";
export { principalKey, type Principal } from "./principal.js";
export { createJwksKeys, type JwksKeys, type JwksOptions, type JwksLocation } from "./jwks.js";
export {
  createJwtAuthenticator,
  AuthenticationFailure,
  ASYMMETRIC_ALGORITHMS,
  type Authenticator,
  type AuthenticationFailureReason,
  type JwtAuthenticatorOptions,
} from "./jwt-authenticator.js";
export {
  createAuthInterceptor,
  createAuthForwardingInterceptor,
  bearerToken,
  AUTHENTICATION_FAILED,
  type AuthInterceptorOptions,
} from "./auth-interceptor.js";
export {
  defineRules,
  selfOrRole,
  createAuthorizationInterceptor,
  type Allow,
  type MethodRule,
  type ServiceRules,
  type UserRequirement,
  type AuthorizationRules,
  type AuthorizationOptions,
  type DenialReason,
} from "./authorization.js";
export { createAuthMetrics, type AuthMetrics } from "./auth-metrics.js";
