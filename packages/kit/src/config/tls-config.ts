import { join } from "node:path";
import type { ClientAuth } from "../security/tls-acceptor.js";
import { DEFAULT_NAMESPACE, DEFAULT_TRUST_DOMAIN } from "../security/spiffe-id.js";
import { ConfigError, integer, oneOf, readConfig, text, type Env } from "./env.js";

/** A process' TLS configuration (off: `false`). */
export interface TlsConfig {
  /** The server side: its certificate, key, and the CA clients are verified against. Undefined: plaintext server. */
  readonly server:
    | { readonly certFile: string; readonly keyFile: string; readonly caFile: string | undefined; readonly clientAuth: ClientAuth }
    | undefined;
  /** The client side: the CA servers are verified against, and this process' certificate for mTLS. Undefined: plaintext clients. */
  readonly client: { readonly caFile: string; readonly certFile: string | undefined; readonly keyFile: string | undefined } | undefined;
  readonly trustDomain: string;
  readonly namespace: string;
  /** "spiffe": a server must present the SPIFFE ID of the service the client asked for; "hostname": the target's host name. */
  readonly verifyServer: "spiffe" | "hostname";
  /** How often the files are re-read besides fs.watch (0: only on change events). */
  readonly reloadMs: number;
  readonly handshakeTimeoutMs: number;
  /** The variable that named each file, for error messages. */
  readonly names: Readonly<Record<"cert" | "key" | "ca" | "clientCert" | "clientKey" | "clientCa", string>>;
}

const FILE = text({ default: "", pattern: /^[^\0\r\n]+$/, expected: "a file path" });
const NAME = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;

/**
 * Reads the TLS variables. TLS is off unless `TRELLIS_TLS_DIR` (the layout
 * `npm run certs` writes: `<dir>/ca.pem`, `<dir>/<service>/cert.pem`,
 * `<dir>/<service>/key.pem`) or `TRELLIS_TLS_CERT`/`TRELLIS_TLS_KEY` are set;
 * the explicit files win over the folder's. With a CA, servers require client
 * certificates (mTLS) unless `TRELLIS_TLS_CLIENT_AUTH` says otherwise, and
 * clients use TLS, present this process' certificate and check the server's
 * SPIFFE ID. `TRELLIS_TLS_CLIENT_CERT`/`_KEY`/`_CA` give the client side
 * files of its own.
 */
export function readTlsConfig(service: string, env: Env = process.env): TlsConfig | false {
  const c = readConfig(
    {
      TRELLIS_TLS_DIR: FILE,
      TRELLIS_TLS_CERT: FILE,
      TRELLIS_TLS_KEY: FILE,
      TRELLIS_TLS_CA: FILE,
      TRELLIS_TLS_CLIENT_CERT: FILE,
      TRELLIS_TLS_CLIENT_KEY: FILE,
      TRELLIS_TLS_CLIENT_CA: FILE,
      TRELLIS_TLS_CLIENT_AUTH: oneOf<ClientAuth | "">(["require", "request", "none"], ""),
      TRELLIS_TLS_TRUST_DOMAIN: text({
        default: DEFAULT_TRUST_DOMAIN,
        pattern: /^[a-z0-9.-]{1,255}$/,
        expected: "a trust domain such as trellis.local",
      }),
      TRELLIS_TLS_NAMESPACE: text({
        default: DEFAULT_NAMESPACE,
        pattern: NAME,
        expected: "a namespace name (lower-case letters, digits, . _ -)",
      }),
      TRELLIS_TLS_VERIFY_SERVER: oneOf(["spiffe", "hostname"], "spiffe"),
      TRELLIS_TLS_RELOAD_MS: integer({ default: 30_000, min: 0, max: 86_400_000 }),
      TRELLIS_TLS_HANDSHAKE_TIMEOUT_MS: integer({ default: 10_000, min: 100, max: 600_000 }),
    },
    env,
  );
  const dir = c.TRELLIS_TLS_DIR;
  const inDir = (file: string): string => (dir === "" ? "" : join(dir, file));
  const from = (variable: string, value: string, fallback: string, fallbackName: string): { file: string; name: string } =>
    value !== "" ? { file: value, name: variable } : { file: fallback, name: fallbackName };
  const cert = from("TRELLIS_TLS_CERT", c.TRELLIS_TLS_CERT, inDir(join(service, "cert.pem")), `TRELLIS_TLS_DIR's ${service}/cert.pem`);
  const key = from("TRELLIS_TLS_KEY", c.TRELLIS_TLS_KEY, inDir(join(service, "key.pem")), `TRELLIS_TLS_DIR's ${service}/key.pem`);
  const ca = from("TRELLIS_TLS_CA", c.TRELLIS_TLS_CA, inDir("ca.pem"), "TRELLIS_TLS_DIR's ca.pem");
  const clientCert = from("TRELLIS_TLS_CLIENT_CERT", c.TRELLIS_TLS_CLIENT_CERT, cert.file, cert.name);
  const clientKey = from("TRELLIS_TLS_CLIENT_KEY", c.TRELLIS_TLS_CLIENT_KEY, key.file, key.name);
  const clientCa = from("TRELLIS_TLS_CLIENT_CA", c.TRELLIS_TLS_CLIENT_CA, ca.file, ca.name);
  if ((cert.file === "") !== (key.file === "")) {
    const missing = cert.file === "" ? "TRELLIS_TLS_CERT" : "TRELLIS_TLS_KEY";
    throw new ConfigError(
      missing,
      `${missing} must be set with ${missing === "TRELLIS_TLS_CERT" ? "TRELLIS_TLS_KEY" : "TRELLIS_TLS_CERT"} (a certificate and its key)`,
    );
  }
  if ((clientCert.file === "") !== (clientKey.file === "")) {
    throw new ConfigError("TRELLIS_TLS_CLIENT_CERT", "TRELLIS_TLS_CLIENT_CERT and TRELLIS_TLS_CLIENT_KEY must be set together");
  }
  if (cert.file === "" && clientCa.file === "") {
    if (c.TRELLIS_TLS_CLIENT_AUTH !== "")
      throw new ConfigError(
        "TRELLIS_TLS_CLIENT_AUTH",
        "TRELLIS_TLS_CLIENT_AUTH needs TLS: set TRELLIS_TLS_DIR or TRELLIS_TLS_CERT and TRELLIS_TLS_KEY",
      );
    return false;
  }
  const clientAuth: ClientAuth = c.TRELLIS_TLS_CLIENT_AUTH === "" ? (ca.file === "" ? "none" : "require") : c.TRELLIS_TLS_CLIENT_AUTH;
  if (clientAuth !== "none" && ca.file === "") {
    throw new ConfigError(
      "TRELLIS_TLS_CLIENT_AUTH",
      `TRELLIS_TLS_CLIENT_AUTH=${clientAuth} needs a CA bundle to verify clients against (TRELLIS_TLS_CA or TRELLIS_TLS_DIR)`,
    );
  }
  return {
    server:
      cert.file === "" ? undefined : { certFile: cert.file, keyFile: key.file, caFile: ca.file === "" ? undefined : ca.file, clientAuth },
    client:
      clientCa.file === ""
        ? undefined
        : {
            caFile: clientCa.file,
            certFile: clientCert.file === "" ? undefined : clientCert.file,
            keyFile: clientKey.file === "" ? undefined : clientKey.file,
          },
    trustDomain: c.TRELLIS_TLS_TRUST_DOMAIN,
    namespace: c.TRELLIS_TLS_NAMESPACE,
    verifyServer: c.TRELLIS_TLS_VERIFY_SERVER as "spiffe" | "hostname",
    reloadMs: c.TRELLIS_TLS_RELOAD_MS,
    handshakeTimeoutMs: c.TRELLIS_TLS_HANDSHAKE_TIMEOUT_MS,
    names: { cert: cert.name, key: key.name, ca: ca.name, clientCert: clientCert.name, clientKey: clientKey.name, clientCa: clientCa.name },
  };
}
