import { checkServerIdentity, type PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { identityOfCertificate } from "./spiffe-id.js";
import type { TlsFiles } from "./tls-files.js";

/** Options of {@link createClientCredentials}. */
export interface ClientCredentialsOptions {
  /** The CA bundle servers are verified against and, for mTLS, this client's certificate and key; reloaded when they change. */
  readonly files: TlsFiles;
  /**
   * The SPIFFE ID the server must present (`spiffe://trellis.local/ns/default/sa/user`):
   * the name in its certificate that says which service it is. Without it the
   * host name of the target is checked against the certificate, as browsers do.
   * @default undefined (host name check)
   */
  readonly serverIdentity?: string;
}

/**
 * Channel credentials for TLS to a Trellis server: the server's certificate
 * must chain to the CA bundle and carry the expected identity, and the client
 * presents its own certificate when it has one (mTLS). Each new connection
 * takes the files' current contents, so rotated certificates apply without
 * recreating the client; open connections are untouched.
 */
export function createClientCredentials(options: ClientCredentialsOptions): grpc.ChannelCredentials {
  const material = options.files.current();
  if (material.ca === undefined) throw new Error("TLS to servers needs a CA bundle to verify them against");
  const expected = options.serverIdentity;
  const verify =
    expected === undefined
      ? undefined
      : (host: string, certificate: PeerCertificate): Error | undefined => {
          const identity = identityOfCertificate(certificate);
          if (identity?.spiffeId === expected) return undefined;
          return new Error(`the server at ${host} presented ${identity?.spiffeId ?? "no SPIFFE identity"}, expected ${expected}`);
        };
  return grpc.experimental.createCertificateProviderChannelCredentials(options.files, material.cert === undefined ? null : options.files, {
    checkServerIdentity: verify ?? checkServerIdentity,
  });
}
