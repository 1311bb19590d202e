/**
 * Security: TLS and mTLS with SPIFFE workload identities (certificate files
 * reloaded without a restart), certificates for local and test use.
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
export { createTlsAcceptor, peerIdentityOfSocket, type ServerTls, type ClientAuth, type HandshakeOutcome, type TlsAcceptor } from "./tls-acceptor.js";
export { createClientCredentials, type ClientCredentialsOptions } from "./client-credentials.js";
export { registerTlsMetrics } from "./tls-metrics.js";
export { createCertificateAuthority, issueCertificate, type KeyPairPem, type CertificateAuthorityOptions, type IssueOptions } from "./certificates.js";
